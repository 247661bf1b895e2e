"""api.sse: the wire encoding, and the coalesced snapshot stream the Dash page reads."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from api import sse
from api.sse import KEEP_ALIVE, disconnect_probe, encode, event_stream, relay
from services.cancel import Cancel, cancel_scope, current_cancel

DONE = {
    "done": True,
    "usage": {"prompt_tokens": 1, "completion_tokens": 3},
    "finish_reason": "stop",
}
ERROR = {"error": {"message": "cut", "type": "stream_cut"}}


def decode(chunks: list[str]) -> list[dict]:
    events = []
    for chunk in chunks:
        assert chunk.startswith("data: ")
        assert chunk.endswith("\n\n")
        assert "\n" not in chunk[:-2]  # exactly one data line per event
        events.append(json.loads(chunk[len("data: ") : -2]))
    return events


def generate(events: list[dict]) -> Iterator[dict]:
    yield from events


class Source:
    """A service stream that records how far it was read and whether it was closed."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self.yielded = 0
        self.closed = False

    def __iter__(self) -> Iterator[dict]:
        try:
            for event in self.events:
                self.yielded += 1
                yield event
        finally:
            self.closed = True


# encode --------------------------------------------------------------------------------


def test_encode_is_one_data_line_and_a_blank_line() -> None:
    assert encode({"delta": "Hi"}) == 'data: {"delta":"Hi"}\n\n'


def test_encode_keeps_non_ascii_as_utf8() -> None:
    text = encode({"delta": "你好 — ✓ 😀"})
    assert text == 'data: {"delta":"你好 — ✓ 😀"}\n\n'
    assert "\\u" not in text
    assert text.encode("utf-8").decode("utf-8") == text


def test_encode_escapes_newlines_so_the_event_is_not_split() -> None:
    text = encode({"delta": "line1\nline2\r\n\nend"})
    assert text.count("\n") == 2
    assert "\r" not in text
    assert decode([text]) == [{"delta": "line1\nline2\r\n\nend"}]


# without snapshots ---------------------------------------------------------------------


@pytest.mark.parametrize("final", [DONE, ERROR], ids=["done", "error"])
def test_plain_stream_passes_events_through_one_to_one(final: dict) -> None:
    events = [{"delta": "a"}, {"delta": "b"}, {"delta": "c"}, final]
    assert decode(list(event_stream(generate(events)))) == events


def test_event_stream_accepts_a_plain_list() -> None:
    """`events` is typed Iterable: a list (no `.close()`) must work like a generator."""
    events = [{"delta": "a"}, DONE]
    assert decode(list(event_stream(events))) == events
    assert decode(list(event_stream(events, snapshots=True))) == [
        {"delta": "a", "content": "a"},
        {**DONE, "content": "a"},
    ]


# with snapshots ------------------------------------------------------------------------


def snapshot_events(events: list[dict], interval: float) -> list[dict]:
    return decode(list(event_stream(generate(events), snapshots=True, interval=interval)))


def test_snapshots_without_coalescing_carry_the_text_so_far() -> None:
    out = snapshot_events([{"delta": "Hel"}, {"delta": "lo"}, {"delta": "!"}, DONE], 0)
    assert out == [
        {"delta": "Hel", "content": "Hel"},
        {"delta": "lo", "content": "Hello"},
        {"delta": "!", "content": "Hello!"},
        {**DONE, "content": "Hello!"},
    ]


def test_snapshots_coalesce_deltas_within_the_interval() -> None:
    deltas = [{"delta": c} for c in "abcdef"]
    out = snapshot_events([*deltas, DONE], 10.0)
    assert out == [
        {"delta": "a", "content": "a"},  # the first delta goes out at once
        {"delta": "bcdef", "content": "abcdef"},  # the rest, flushed before the end
        {**DONE, "content": "abcdef"},
    ]


def test_snapshot_error_carries_the_partial_reply_and_comes_last() -> None:
    out = snapshot_events([{"delta": "par"}, {"delta": "tial"}, ERROR], 10.0)
    assert out[-1] == {**ERROR, "content": "partial"}
    assert out[:-1] == [
        {"delta": "par", "content": "par"},
        {"delta": "tial", "content": "partial"},
    ]


def test_snapshot_error_before_any_text() -> None:
    assert snapshot_events([ERROR], 0) == [{**ERROR, "content": ""}]


def test_snapshots_follow_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """One event per interval: deltas arriving sooner wait for the next one."""
    clock = {"now": 100.0}
    monkeypatch.setattr(sse.time, "monotonic", lambda: clock["now"])

    def timed() -> Iterator[dict]:
        for at, text in [(100.0, "a"), (100.01, "b"), (100.02, "c"), (100.06, "d"), (100.07, "e")]:
            clock["now"] = at
            yield {"delta": text}
        yield DONE

    out = decode(list(event_stream(timed(), snapshots=True, interval=0.05)))
    assert out == [
        {"delta": "a", "content": "a"},
        {"delta": "bcd", "content": "abcd"},
        {"delta": "e", "content": "abcde"},
        {**DONE, "content": "abcde"},
    ]


@pytest.mark.parametrize("interval", [0, 0.05, 10.0])
def test_snapshot_invariants(interval: float) -> None:
    deltas = ["The ", "quick ", "", "brown ", "狐狸", " jumps\n", "```py\nx=1\n```"]
    out = snapshot_events([*({"delta": d} for d in deltas), DONE], interval)
    full = "".join(deltas)
    assert "".join(e["delta"] for e in out[:-1]) == full
    so_far = ""
    for event in out[:-1]:
        so_far += event["delta"]
        assert event["content"] == so_far
    assert out[-1] == {**DONE, "content": full}
    assert sum("done" in e for e in out) == 1


# closing -------------------------------------------------------------------------------


@pytest.mark.parametrize("snapshots", [False, True])
def test_closing_the_output_closes_the_source(snapshots: bool) -> None:
    source = Source([{"delta": str(i)} for i in range(100)] + [DONE])
    out = event_stream(iter(source), snapshots=snapshots, interval=0)
    assert [e["delta"] for e in decode([next(out), next(out)])] == ["0", "1"]
    out.close()
    assert source.closed is True
    assert source.yielded == 2  # nothing more was pulled from upstream


@pytest.mark.parametrize("snapshots", [False, True])
def test_a_finished_stream_closes_its_source(snapshots: bool) -> None:
    source = Source([{"delta": "a"}, DONE])
    list(event_stream(iter(source), snapshots=snapshots))
    assert source.closed is True


@pytest.mark.parametrize("snapshots", [False, True])
def test_a_source_that_ends_without_a_final_event_still_gets_one(snapshots: bool) -> None:
    events = decode(list(event_stream(generate([{"delta": "half"}]), snapshots=snapshots)))
    assert "".join(e.get("delta", "") for e in events) == "half"
    assert events[-1]["error"]["type"] == "stream_cut"
    assert [e for e in events if "error" in e or "done" in e] == [events[-1]]
    if snapshots:
        assert events[-1]["content"] == "half"


def test_events_after_the_final_one_are_not_sent() -> None:
    source = [{"delta": "a"}, {"done": True, "usage": None}, {"delta": "late"}]
    events = decode(list(event_stream(generate(source))))
    assert events == [{"delta": "a"}, {"done": True, "usage": None}]


# relay: keep-alive, a client that leaves, a silent source ---------------------------------


def without_comments(chunks: list[str]) -> list[str]:
    return [chunk for chunk in chunks if not chunk.startswith(":")]


def slow(events: list[dict], pause: float) -> Iterator[dict]:
    """A model that is silent for `pause` seconds before its events."""
    time.sleep(pause)
    yield from events


def test_keep_alive_comments_while_the_source_is_silent() -> None:
    out = list(event_stream(slow([{"delta": "late"}, DONE], 0.5), keep_alive=0.1, poll=0.05))
    assert 3 <= out.count(KEEP_ALIVE) <= 5, out
    assert out[: out.count(KEEP_ALIVE)] == [KEEP_ALIVE] * out.count(KEEP_ALIVE)
    assert decode(without_comments(out)) == [{"delta": "late"}, DONE]


def test_keep_alive_is_a_comment_every_sse_parser_skips() -> None:
    assert KEEP_ALIVE.startswith(":") and KEEP_ALIVE.endswith("\n\n")
    assert "\n" not in KEEP_ALIVE[:-2]


def test_no_keep_alive_while_events_flow() -> None:
    def steady() -> Iterator[dict]:
        for i in range(10):
            time.sleep(0.02)
            yield {"delta": str(i)}
        yield DONE

    out = list(event_stream(steady(), keep_alive=0.2, poll=0.05))
    assert KEEP_ALIVE not in out


class Blocked:
    """A service stream blocked in a read that only a cancel hook can wake, like the SDK's."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.woken = threading.Event()
        self.closed = threading.Event()
        self.cancel: Cancel | None = None
        self.thread: threading.Thread | None = None

    def __iter__(self) -> Iterator[dict]:
        self.thread = threading.current_thread()
        try:
            yield {"delta": "first"}
            self.cancel = current_cancel()
            assert self.cancel is not None, "no cancel scope around the reader"
            with self.cancel.on_cancel(self.woken.set):
                self.started.set()
                self.woken.wait(30)  # "the upstream is silent"
            if self.cancel.cancelled:
                return
            yield DONE
        finally:
            self.closed.set()


def test_a_client_gone_while_the_source_is_silent_stops_it_at_once() -> None:
    source = Blocked()
    gone = threading.Event()
    out = event_stream(iter(source), client_gone=gone.is_set, poll=0.05)

    assert decode([next(out)]) == [{"delta": "first"}]
    rest: list[str] = []
    reader = threading.Thread(target=lambda: rest.extend(out))
    reader.start()
    assert source.started.wait(5)
    left = time.monotonic()
    gone.set()
    reader.join(5)

    assert not reader.is_alive(), "the response is still waiting for the model"
    assert source.woken.is_set() and source.closed.is_set()
    assert time.monotonic() - left < 0.5
    assert rest == []  # nothing more is written to a client that left
    assert source.thread is not threading.current_thread()  # read in the pump thread


@pytest.mark.parametrize("snapshots", [False, True])
def test_closing_the_output_wakes_and_closes_a_blocked_source(snapshots: bool) -> None:
    """What a server does after a failed write: close() must not wait for the model."""
    source = Blocked()
    out = event_stream(iter(source), snapshots=snapshots, keep_alive=0.1, poll=0.05)
    assert decode([next(out)])[0]["delta"] == "first"
    # Silent source: the next thing out is a keep-alive; the "write" of it fails -> close().
    assert next(out) == KEEP_ALIVE
    assert source.started.wait(5)
    closing = time.monotonic()
    out.close()
    assert time.monotonic() - closing < 1.0
    assert source.woken.is_set(), "the blocked read was not woken"
    assert source.closed.is_set()
    assert source.cancel is not None and source.cancel.cancelled


def test_a_source_that_raises_fails_the_response() -> None:
    def broken() -> Iterator[dict]:
        yield {"delta": "a"}
        raise RuntimeError("bug")

    out = event_stream(broken())
    next(out)
    with pytest.raises(RuntimeError, match="bug"):
        next(out)


# disconnect_probe -------------------------------------------------------------------------


def test_probe_without_a_socket_never_says_gone() -> None:
    assert disconnect_probe({})() is False
    assert disconnect_probe({"gunicorn.socket": object()})() is False


@pytest.mark.parametrize("key", ["gunicorn.socket", "werkzeug.socket"])
def test_probe_sees_the_peer_close(key: str) -> None:
    server, client = socket.socketpair()
    with server, client:
        server.settimeout(7.5)
        gone = disconnect_probe({key: server})
        assert gone() is False
        client.sendall(b"pipelined")  # unread bytes: still there
        assert gone() is False
        assert server.recv(100) == b"pipelined"  # the peek consumed nothing
        client.close()
        assert gone() is True
        assert server.gettimeout() == 7.5  # the socket's own mode is restored


def test_probe_restores_a_blocking_socket() -> None:
    server, client = socket.socketpair()
    with server, client:
        server.setblocking(True)
        disconnect_probe({"gunicorn.socket": server})()
        assert server.getblocking() is True and server.gettimeout() is None


def test_probe_on_a_reset_connection_says_gone() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with accepted:
            # SO_LINGER 0: close() sends RST, as a crashed browser's OS would.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            time.sleep(0.05)
            assert disconnect_probe({"gunicorn.socket": accepted})() is True


# Cancel -----------------------------------------------------------------------------------


def test_cancel_runs_hooks_registered_now_and_before() -> None:
    cancel = Cancel()
    ran: list[str] = []
    with cancel.on_cancel(lambda: ran.append("registered")):
        cancel.cancel()
        cancel.cancel()  # only once
    with cancel.on_cancel(lambda: ran.append("late")):  # already cancelled: at once
        pass
    assert ran == ["registered", "late"]
    assert cancel.wait(0) is True


def test_hooks_left_behind_do_not_run() -> None:
    cancel = Cancel()
    ran: list[str] = []
    with cancel.on_cancel(lambda: ran.append("x")):
        pass
    cancel.cancel()
    assert ran == []


def test_cancel_scope_is_per_thread() -> None:
    cancel = Cancel()
    seen: list[object] = []
    with cancel_scope(cancel):
        assert current_cancel() is cancel
        other = threading.Thread(target=lambda: seen.append(current_cancel()))
        other.start()
        other.join()
    assert seen == [None]
    assert current_cancel() is None


def test_a_flush_sends_the_coalesced_text_at_once_and_is_not_sent_itself() -> None:
    """The page turn's last text must not wait for its final event to be put together."""
    done = {"done": True, "usage": None}
    events = [{"delta": "a"}, {"delta": "b"}, {"flush": True}, {"delta": "c"}, done]

    out = decode(list(event_stream(iter(events), coalesce=True, interval=60.0)))

    assert out == [{"delta": "a"}, {"delta": "b"}, {"delta": "c"}, done]


def test_the_opening_goes_out_after_the_first_chunk() -> None:
    """Recording the question must not hold back the reply's first text (issue 13)."""
    out = list(relay(iter(["first", "second"]), opening=lambda: ["opened"]))

    assert out == ["first", "opened", "second"]


def test_the_opening_does_not_wait_for_a_silent_upstream() -> None:
    """With no chunk yet, the opening runs anyway (the question is recorded even if the
    model never answers); here the source only answers once the opening has run."""
    ran = threading.Event()

    def source():
        yield "answer" if ran.wait(10) else "the opening never ran"

    def opening():
        ran.set()
        return ["opened"]

    assert list(relay(source(), opening=opening)) == ["opened", "answer"]


# --------------------------------------------------------------------------- graceful stop


class _Kept:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.ended: list[dict] | None = None

    def add(self, delta: str) -> None:
        self.added.append(delta)

    def end(self, entries: list[dict]) -> None:
        self.ended = entries


def _endless() -> Iterator[dict]:
    """A model that writes until cancelled, as ChatService.stream obeys its Cancel."""
    cancel = current_cancel()
    while not cancel.cancelled:
        yield {"delta": "word "}
        cancel.wait(0.01)


def test_a_graceful_stop_ends_a_stream_with_a_final_event_and_its_record() -> None:
    from services import stopping
    from services.recording import recorded

    kept = _Kept()
    body = event_stream(recorded(_endless(), kept, "m"), coalesce=True, poll=0.02)
    try:
        received = [next(body) for _ in range(3)]
        stopping.begin(0)
        received += list(body)
    finally:
        stopping.reset()
    events = [json.loads(chunk[len("data: ") :]) for chunk in received]
    *deltas, final = events
    assert final["error"]["type"] == "server_stopping"
    text = "".join(event["delta"] for event in deltas)
    reply, error = kept.ended
    assert (reply["status"], reply["content"]) == ("interrupted", text)
    assert error["kind"] == "server_stopping"


# ------------------------------------------------------------- a reply that outlives its page


class _Gated:
    """A model that writes one word each time the test lets it, then finishes; cancellable
    while it waits, as ChatService.stream obeys its Cancel."""

    def __init__(self, words: int) -> None:
        self.words = words
        self.allowed = threading.Semaphore(0)
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[dict]:
        cancel = current_cancel()
        try:
            for n in range(self.words):
                while not self.allowed.acquire(timeout=0.01):
                    if cancel.cancelled:
                        return
                yield {"delta": f"w{n} "}
            yield DONE
        finally:
            self.closed.set()


def _detached(source: _Gated, keep_going, kept: _Kept):
    from services.recording import recorded

    gone = threading.Event()
    out = event_stream(
        recorded(iter(source), kept, "m"), client_gone=gone.is_set, poll=0.02, keep_going=keep_going
    )
    source.allowed.release()
    assert decode([next(out)]) == [{"delta": "w0 "}]
    rest: list[str] = []
    reader = threading.Thread(target=lambda: rest.extend(out))
    reader.start()
    gone.set()
    reader.join(5)
    assert not reader.is_alive(), "the response did not end when its client left"
    assert rest == []  # nothing is written to a client that left
    return out


def test_a_wanted_reply_is_read_to_its_end_after_the_client_left() -> None:
    source, kept = _Gated(5), _Kept()
    _detached(source, lambda: True, kept)
    for _ in range(4):
        source.allowed.release()
    assert source.closed.wait(5)
    deadline = time.monotonic() + 5
    while kept.ended is None and time.monotonic() < deadline:
        time.sleep(0.01)
    [reply] = kept.ended
    assert (reply["status"], reply["content"]) == ("done", "w0 w1 w2 w3 w4 ")


def test_a_reply_nobody_wants_stops_when_the_client_leaves() -> None:
    source, kept = _Gated(5), _Kept()
    _detached(source, lambda: False, kept)
    assert source.closed.wait(5)
    [reply] = kept.ended
    assert (reply["status"], reply["content"]) == ("stopped", "w0 ")


def test_a_reply_going_on_alone_stops_once_it_is_no_longer_wanted(monkeypatch) -> None:
    monkeypatch.setattr(sse, "DETACHED_CHECK_INTERVAL", 0.02)
    wanted = threading.Event()
    wanted.set()
    source, kept = _Gated(50), _Kept()
    _detached(source, wanted.is_set, kept)
    source.allowed.release()  # one more word arrives with nobody reading
    deadline = time.monotonic() + 5
    while kept.added != ["w0 ", "w1 "] and time.monotonic() < deadline:
        time.sleep(0.01)
    wanted.clear()  # Stop, from any process
    assert source.closed.wait(5), "the stopped reply still holds the upstream"
    [reply] = kept.ended
    assert (reply["status"], reply["content"]) == ("stopped", "w0 w1 ")


def test_a_failed_write_hands_a_wanted_reply_on_too() -> None:
    """The server closes the response when a write fails: the reply still goes on."""
    from services.recording import recorded

    source, kept = _Gated(3), _Kept()
    out = event_stream(recorded(iter(source), kept, "m"), keep_going=lambda: True)
    source.allowed.release()
    next(out)
    out.close()
    source.allowed.release()
    source.allowed.release()
    assert source.closed.wait(5)
    deadline = time.monotonic() + 5
    while kept.ended is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert kept.ended[0]["content"] == "w0 w1 w2 "


def test_text_held_back_goes_out_while_the_model_is_silent() -> None:
    """Coalesced text is not kept waiting for the model's next piece (a pause mid-sentence)."""
    source = _Gated(5)
    out = event_stream(iter(source), coalesce=True, interval=0.05, keep_alive=60)
    source.allowed.release()
    assert decode([next(out)]) == [{"delta": "w0 "}]  # the first piece goes at once
    source.allowed.release()
    source.allowed.release()  # two more within the interval, then the model is silent
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(next(out)))
    reader.start()
    reader.join(5)
    assert decode(got) == [{"delta": "w1 w2 "}], "held text waited for the model"
    for _ in range(2):
        source.allowed.release()
    rest = decode(list(out))
    assert "".join(e.get("delta", "") for e in rest) == "w3 w4 "
    assert rest[-1] == DONE
