"""Server-sent events: encoding, the coalesced "snapshot" form for the Dash page, and a relay
that notices a departed client even while the model is silent.

Why the relay: a response generator that reads the model directly blocks its worker thread for
as long as the model is silent, and only learns that the browser went away when it next writes.
A silent model (a slow one, a stuck one, a long pause between chunks) would then hold the worker
thread and the upstream connection for nobody. So the upstream is read in a small pump thread,
and the response thread waits on it in short steps, asking the client's socket between them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from services import stopping
from services.cancel import Cancel, cancel_scope

log = logging.getLogger(__name__)

# At most ~20 page updates a second: smooth to the eye, and cheap for a browser that
# re-renders Markdown on every update.
SNAPSHOT_INTERVAL = 0.05
# The page's deltas after the first: ten a second keep a long reply's framing to about a
# fifth of its text (issue 13: an 8,000-character reply in at most twice its size), and the
# page draws at most once a frame anyway.
COALESCE_INTERVAL = 0.1
# How long a stream's `opening` work waits for the first chunk (see `relay`).
OPENING_DELAY = 0.05
# How often a waiting response asks whether its client is still there.
POLL_INTERVAL = 0.25
# After this long without a byte sent, an SSE comment goes out: proxies with idle timeouts
# (nginx, Render, Azure) keep the connection, also before the model's first token. Clients
# ignore comments (the page's parser and the OpenAI SDK both do).
KEEP_ALIVE_INTERVAL = 15.0
KEEP_ALIVE = ": keep-alive\n\n"
# After a graceful stop has cancelled a stream, how long it may take to send its final event
# (normally milliseconds: the upstream is hung up, the record written) before one is sent anyway.
STOP_FINAL_WAIT = 5.0
# How often a stream that goes on without its client (`relay`'s `keep_going`) asks whether it
# is still wanted: a Stop from another process takes effect within this.
DETACHED_CHECK_INTERVAL = 1.0
# How long a closing response waits for its pump thread to close the source. Normally
# milliseconds; longer only when no socket could be shut down (upstream headers not yet in).
PUMP_JOIN_TIMEOUT = 0.5


def encode(event: dict) -> str:
    """One complete SSE event: a `data:` line and the blank line that ends it."""
    return f"data: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}\n\n"


def event_stream(
    events: Iterable[dict],
    *,
    snapshots: bool = False,
    coalesce: bool = False,
    interval: float | None = None,
    client_gone: Callable[[], bool] | None = None,
    keep_alive: float | None = None,
    poll: float | None = None,
    opening: Callable[[], Iterable[str]] | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """Encode service events as SSE, always ending with one final `done` or `error` event.

    With `coalesce`, text events after the first are merged so at most one goes out per
    `interval`: the first text leaves at once, and a long reply costs a few bytes of framing
    per update instead of per token; an event `{"flush": True}` (never sent) makes the text
    held back go at once. `snapshots` coalesces too, and each event also carries
    `content` (the whole reply so far), for a client that sees only the newest event; the
    final event carries the complete `content` as well. Closing this generator closes
    `events` (and so the upstream).

    `events` are read through `relay` (see there): `client_gone` (see `disconnect_probe`) is
    asked every `poll` seconds while the model is silent, and a keep-alive comment goes out
    after `keep_alive` seconds of silence (defaults: POLL_INTERVAL, KEEP_ALIVE_INTERVAL).
    `opening` runs while the upstream request opens (see `relay`), and `keep_going` says
    whether the stream goes on when its client has left (see `relay`).
    """
    if interval is None:
        interval = SNAPSHOT_INTERVAL if snapshots else COALESCE_INTERVAL
    merged = _Coalescer(interval, snapshots=snapshots) if coalesce or snapshots else None
    return relay(
        _encoded(events, snapshots=snapshots, coalesce=merged is not None),
        coalescer=merged,
        client_gone=client_gone,
        keep_alive=keep_alive,
        poll=poll,
        opening=opening,
        keep_going=keep_going,
    )


class _Text:
    """A piece of text for `_Coalescer`, with when it came (read in the pump thread)."""

    __slots__ = ("at", "delta")

    def __init__(self, delta: str, at: float) -> None:
        self.delta = delta
        self.at = at


_FLUSH = object()  # `{"flush": True}`: the text held back goes now


class _Coalescer:
    """Merges text for `relay`, in its thread: the first piece goes at once, later ones at most
    once per `interval`, and text held back goes when the interval is over even if the model
    says nothing more (a model that pauses mid-sentence does not hold back what it wrote).
    With `snapshots`, each event also carries the whole text so far."""

    def __init__(self, interval: float, *, snapshots: bool) -> None:
        self.interval = interval
        self.snapshots = snapshots
        self.parts: list[str] = []
        self.pending: list[str] = []
        self.last_sent = float("-inf")

    def add(self, text: _Text) -> str | None:
        """Take a piece; the event to send now, if one is due."""
        self.parts.append(text.delta)
        self.pending.append(text.delta)
        return self.take(text.at) if text.at - self.last_sent >= self.interval else None

    def wait(self, now: float) -> float | None:
        """Seconds until held text is due; None when nothing is held."""
        if not self.pending:
            return None
        return max(0.0, self.last_sent + self.interval - now)

    def take(self, now: float) -> str | None:
        """The held text as one event (None when nothing is held)."""
        if not self.pending:
            return None
        event = {"delta": "".join(self.pending)}
        if self.snapshots:
            event["content"] = "".join(self.parts)
        self.pending.clear()
        self.last_sent = now
        return encode(event)


def _encoded(events: Iterable[dict], *, snapshots: bool, coalesce: bool) -> Iterator[object]:
    """SSE text for `relay`; with `coalesce`, text comes as `_Text` (and flushes as `_FLUSH`)
    for the relay's `_Coalescer` to merge."""
    source = iter(events)
    parts: list[str] = []
    try:
        for event in source:
            if event.get("flush"):
                # The text so far goes now: the final event is being put together.
                if coalesce:
                    yield _FLUSH
                continue
            if "delta" not in event:
                yield encode({**event, "content": "".join(parts)} if snapshots else event)
                return
            parts.append(event["delta"])
            if coalesce:
                yield _Text(event["delta"], time.monotonic())
            else:
                yield encode({**event, "content": "".join(parts)} if snapshots else event)
        # The source ended without saying how: never leave a client waiting for a final event.
        final = {"error": {"message": "The reply ended unexpectedly.", "type": "stream_cut"}}
        if stopping.stopping():
            final = stopping.STOPPING_EVENT  # the server cancelled it (see relay)
        yield encode({**final, "content": "".join(parts)} if snapshots else final)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def relay(
    chunks: Iterable[str],
    *,
    client_gone: Callable[[], bool] | None = None,
    keep_alive: float | None = None,
    poll: float | None = None,
    cancel: Cancel | None = None,
    opening: Callable[[], Iterable[str]] | None = None,
    keep_going: Callable[[], bool] | None = None,
    coalescer: _Coalescer | None = None,
) -> Iterator[str]:
    """Yield `chunks` (SSE text) as they come, read in a pump thread of their own.

    `opening()` runs in this thread while the upstream answers: right after the first chunk
    has gone out, or after OPENING_DELAY if that is slower, and what it returns goes out
    next. So work that must not delay the reply (recording the question) neither holds the
    upstream request back nor competes with its first chunk for the GIL, and still happens
    when no chunk ever comes. An `opening` that raises is logged.

    While waiting for the next chunk, `client_gone()` is asked every `poll` seconds, and
    `KEEP_ALIVE` is yielded after `keep_alive` seconds without output. When the client is gone
    (the probe says so, or the server closes this generator because a write failed), `cancel`
    is cancelled: a `ChatService.stream` read by the pump obeys it (through `cancel_scope`),
    and its hooks shut the upstream socket down, so the pump wakes at once even from a blocked
    read. The pump then closes `chunks` itself: a generator cannot be closed while another
    thread runs it. Chunks are read one at a time, only when wanted, as with plain iteration:
    nothing more is read from upstream than the client took.

    Unless `keep_going()` says otherwise at that moment: then the client's leaving (a reload,
    a closed tab, a lost network) does not end the stream. A thread of its own reads `chunks`
    on to their end, unsent (what is below records them), asking `keep_going()` every
    DETACHED_CHECK_INTERVAL, and cancels them once it says no (Stop, from any process).

    When the process stops gracefully (services/stopping.py), a stream still open when the
    grace is over is cancelled the same way, and its chunks are read on to the final event
    (`_encoded` and services/recording.py make it SERVER_STOPPING, with the reply on record).

    With a `coalescer`, chunks may also be `_Text` pieces (and `_FLUSH`), merged here, in this
    thread, so held text can go out on time while the model is silent (see `_Coalescer`).
    """
    # Read at call time, not import time, so a deployment (or a test) may change them.
    keep_alive = KEEP_ALIVE_INTERVAL if keep_alive is None else keep_alive
    poll = POLL_INTERVAL if poll is None else poll
    cancel = cancel or Cancel()
    gone = client_gone or (lambda: False)
    pump = _Pump(iter(chunks), cancel)
    finished = False
    handed_off = False
    ending_since: float | None = None  # when a graceful stop cancelled this stream
    stopping.opened()

    def carry_on() -> bool:
        """The client left: hand the rest to `_read_on` when the stream is still wanted."""
        nonlocal handed_off
        if keep_going is None or not _asked(keep_going):
            return False
        log.info("the client went away; its reply goes on, unsent, to the record")
        _read_on(pump, cancel, keep_going, ending_since)
        handed_off = True  # the pump is `_read_on`'s now
        return True

    def next_wait() -> float:
        return _wait(last_output + keep_alive, poll, opening, coalescer)

    try:
        pump.want()
        last_output = time.monotonic()
        opening_due = last_output + OPENING_DELAY
        while True:
            while (item := pump.get(next_wait())) is None:
                if opening is not None and time.monotonic() >= opening_due:
                    yield from _opened(opening)
                    opening = None
                    continue
                if gone():
                    if not carry_on():
                        log.info("the client went away; stopping its stream")
                    return
                if coalescer is not None and coalescer.wait(now := time.monotonic()) == 0:
                    yield coalescer.take(now)  # held text, while the model is silent
                    last_output = now
                    continue
                if ending_since is None and stopping.due():
                    ending_since = _end_for_stop(cancel)
                elif ending_since and time.monotonic() - ending_since >= STOP_FINAL_WAIT:
                    yield encode(stopping.STOPPING_EVENT)
                    return
                if time.monotonic() - last_output >= keep_alive:
                    yield KEEP_ALIVE
                    last_output = time.monotonic()
            kind, value = item
            if kind is _Pump.END:
                finished = True
                return
            if kind is _Pump.FAILED:
                finished = True
                raise value
            if coalescer is not None and (isinstance(value, _Text) or value is _FLUSH):
                pump.want()  # text held back is not sent: read on meanwhile
                now = time.monotonic()
                out = coalescer.add(value) if isinstance(value, _Text) else coalescer.take(now)
                if out is not None:
                    yield out
                    last_output = time.monotonic()
                    if ending_since is None and stopping.due():
                        ending_since = _end_for_stop(cancel)
                    if opening is not None:
                        yield from _opened(opening)
                        opening = None
                continue
            if coalescer is not None and (held := coalescer.take(time.monotonic())) is not None:
                yield held  # before what follows it (the final event)
            yield value
            last_output = time.monotonic()
            if ending_since is None and stopping.due():
                ending_since = _end_for_stop(cancel)
            pump.want()
            if opening is not None:
                yield from _opened(opening)
                opening = None
    except GeneratorExit:
        # The server closed this response: a write failed (the client is gone) or it is
        # shutting the connection down.
        if not finished:
            carry_on()
        raise
    finally:
        if not handed_off:
            pump.stop(cancel=not finished)
        stopping.closed()


def _asked(keep_going: Callable[[], bool]) -> bool:
    try:
        return bool(keep_going())
    except Exception:
        log.exception("could not tell whether a stream should go on without its client")
        return False


def _read_on(
    pump: _Pump,
    cancel: Cancel,
    keep_going: Callable[[], bool],
    ending_since: float | None,
) -> None:
    """Read `pump` to its end in a daemon thread (the client has gone); see `relay`."""
    stopping.opened()  # before the relay's `closed`: a graceful stop waits for this one too

    def run() -> None:
        since = ending_since
        finished = False
        next_check = time.monotonic() + DETACHED_CHECK_INTERVAL
        try:
            pump.want()
            while True:
                item = pump.get(POLL_INTERVAL)
                if item is not None:
                    kind, _ = item
                    if kind is _Pump.END or kind is _Pump.FAILED:
                        finished = True
                        return
                    pump.want()
                now = time.monotonic()
                if since is None and now >= next_check:
                    next_check = now + DETACHED_CHECK_INTERVAL
                    if not _asked(keep_going):
                        log.info("a reply going on without its client was stopped")
                        cancel.cancel()
                        since = now
                if since is None and stopping.due():
                    since = _end_for_stop(cancel)
                elif since is not None and now - since >= STOP_FINAL_WAIT:
                    return
        finally:
            pump.stop(cancel=not finished)
            stopping.closed()

    threading.Thread(target=run, name="sse-read-on", daemon=True).start()


def _end_for_stop(cancel: Cancel) -> float:
    log.info("the server is stopping; ending a stream with what it has")
    cancel.cancel()
    return time.monotonic()


def _opened(opening: Callable[[], Iterable[str]]) -> list[str]:
    try:
        return list(opening())
    except Exception:
        log.exception("a stream's opening work failed")
        return []


def _until(deadline: float, at_most: float) -> float:
    return max(0.0, min(at_most, deadline - time.monotonic()))


def _wait(deadline: float, poll: float, opening: object, coalescer: _Coalescer | None) -> float:
    wait = _until(deadline, OPENING_DELAY if opening is not None else poll)
    held = coalescer.wait(time.monotonic()) if coalescer is not None else None
    return wait if held is None else min(wait, held)


class _Pump:
    """Reads `source` in a daemon thread, one item per `want()`; the thread owns the source."""

    ITEM, END, FAILED = object(), object(), object()

    def __init__(self, source: Iterator, cancel: Cancel) -> None:
        self._source = source
        self._cancel = cancel
        self._wanted = threading.Semaphore(0)
        self._stopping = False
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sse-pump", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with cancel_scope(self._cancel):
            try:
                while True:
                    self._wanted.acquire()
                    if self._stopping:
                        return
                    try:
                        item = next(self._source)
                    except StopIteration:
                        self._items.put((self.END, None))
                        return
                    except BaseException as exc:
                        self._items.put((self.FAILED, exc))
                        return
                    self._items.put((self.ITEM, item))
            finally:
                close = getattr(self._source, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:
                        log.exception("closing a stream's source failed")

    def want(self) -> None:
        """Ask for the next item."""
        self._wanted.release()

    def get(self, timeout: float) -> tuple[object, object] | None:
        """(kind, value) of the next item, or None if there is none within `timeout` seconds."""
        try:
            return self._items.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self, *, cancel: bool) -> None:
        """End the thread (it closes the source); `cancel` also cancels a read in progress."""
        self._stopping = True
        if cancel:
            self._cancel.cancel()
        self._wanted.release()
        self._thread.join(PUMP_JOIN_TIMEOUT)
        if self._thread.is_alive():
            log.warning("a stream's pump thread is still waiting for the upstream; left to end")


def disconnect_probe(environ: dict) -> Callable[[], bool]:
    """A callable saying whether the client of this WSGI request has closed its connection.

    It peeks at the client's socket without blocking: end of stream or a reset means gone;
    nothing to read means still there. gunicorn puts the socket in `gunicorn.socket`,
    werkzeug's server in `werkzeug.socket`; elsewhere (the test client) the probe always says
    False and a gone client is noticed when a write fails. The probe must run in the thread
    that serves the request (as `relay` does): it briefly makes the socket non-blocking.
    Unread request bytes (a pipelined request) read as "still there", which is the safe side.
    """
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if not isinstance(sock, socket.socket):
        return lambda: False

    def gone() -> bool:
        try:
            timeout = sock.gettimeout()
            sock.setblocking(False)
        except OSError:
            return True  # closed under us
        try:
            # The plain socket's recv: a TLS socket refuses MSG_PEEK, and EOF is EOF either way.
            return socket.socket.recv(sock, 1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return True
        except OSError:
            return False  # unknown: let a failed write decide
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(timeout)

    return gone
