"""Replies on record while they stream, so a crash, a kill or a deploy loses at most a batch.

A reply goes on record with its first batch (status "streaming"), `batch_seconds` or
`batch_chars` after its first text (whichever comes first), its text is rewritten at every
batch, and its final entries replace it at the end. The writes happen in one thread per
process, never in the thread that reads the model: a stream only hands its newest text over
(a dict entry and a notify), so no token waits for the database, and a writer that falls
behind writes each reply's newest text once.

A reply left "streaming" by a process that died is marked interrupted (text kept) by `sweep`:
at start-up (chat_app.create_app, and each gunicorn worker's start), every
`heartbeat_seconds` by every process that has replies streaming, and when a page asks about a
reply still streaming (`sweep_if_due`: its writer may be an instance that died).

Several workers, machines even, share one database, so a reply is swept only when its writer
("host:pid:start time") is a process of this host that is gone, or when its writer has not
beaten for `stale_seconds` (another host's, frozen or dead): a live writer beats for its open
replies every `heartbeat_seconds`, also while the model is silent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from services.records.models import utcnow

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
STALE_SECONDS = 90.0  # six missed beats
# A page following a reply asks about once a second; its instance sweeps at most this often.
SWEEP_ON_READ_SECONDS = 5.0
# How long a reply's end waits for its record (normally milliseconds).
END_WAIT = 10.0


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None where unknown or a
    zombie. With the pid it names one process: a reused pid has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None  # a zombie writes nothing any more
    return fields[19]


def writer_id() -> str:
    """This process as a writer of streaming replies: "host:pid:start time"."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or 0}"


def process_gone(writer: str | None) -> bool:
    """Whether `writer` names a process of this host that no longer runs. Another host's
    writer is never gone by this test: only its silence (the heartbeat) tells."""
    host, _, rest = (writer or "").partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if Path("/proc/self/stat").exists():
        return _start_time(pid) != started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class RunningReply:
    """One reply on its way to the record. `add` runs in the stream's thread, per text piece."""

    def __init__(
        self,
        journal: Journal,
        owner: str,
        conversation: Callable[[], str | None],
        model: str,
        ready: threading.Event | None = None,
        question: Callable[[], int | None] | None = None,
    ):
        self._journal = journal
        self.owner = owner
        self._conversation = conversation
        # Set once the question is on record (a page turn's is written while the upstream
        # opens): the reply must follow its question.
        self._ready = ready
        self._question = question
        self.model = model
        self._parts: list[str] = []
        self._chars = 0
        self._batched_chars = 0
        self._batched_at: float | None = None
        self.row_id: int | None = None  # the writer thread's
        self.ended = threading.Event()

    @property
    def conversation_id(self) -> str | None:
        return self._conversation()

    @property
    def after(self) -> int | None:
        """The seq of the question this reply answers (known once `ready`): every write names
        it, so nothing lands in a conversation cleared meanwhile (Records.clear)."""
        return self._question() if self._question is not None else None

    def _target(self) -> str | None:
        """The conversation's id once the reply may be written, else None."""
        if self._ready is not None and not self._ready.is_set():
            return None
        return self._conversation()

    def add(self, delta: str) -> None:
        """The next piece of text; the newest text goes to the writer when a batch is due."""
        self._parts.append(delta)
        self._chars += len(delta)
        now = time.monotonic()
        if self._batched_at is None:
            # The first batch too waits its turn: a reply shorter than a batch is written once,
            # at its end, and the many replies that start together (and their questions' writes)
            # do not compete for the database around their first token.
            self._batched_at = now
        due = (
            now - self._batched_at >= self._journal.batch_seconds
            or self._chars - self._batched_chars >= self._journal.batch_chars
        )
        if due and self._target() is not None:
            self._batched_at = now
            self._batched_chars = self._chars
            self._journal.submit(self, text="".join(self._parts))

    def catch_up(self) -> None:
        """Its question is on record now: the text that came meanwhile goes in a batch at once
        (not at the next piece, which a pausing model may hold back for long)."""
        if self._chars > self._batched_chars and self._target() is not None:
            self._batched_chars = self._chars
            self._journal.submit(self, text="".join(self._parts))

    def end(self, entries: list[dict], *, wait: float = END_WAIT) -> None:
        """How the reply ended (`record_result`'s entries); returns once they are on record."""
        if self._ready is not None:
            self._ready.wait(wait)
        if self._target() is None:
            return
        self._journal.submit(self, final=entries)
        if not self.ended.wait(wait):
            log.warning("the record of a reply was not written within %.0f s", wait)


class Journal:
    """The per-process writer of streaming replies for one `Records`."""

    def __init__(
        self,
        records,
        *,
        batch_seconds: float = 1.0,
        batch_chars: int = 400,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        stale_seconds: float = STALE_SECONDS,
    ):
        self.records = records
        self.batch_seconds = batch_seconds
        self.batch_chars = batch_chars
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_seconds = stale_seconds
        self._lock = threading.Condition()
        # reply -> its newest text (str) or its final entries (list); insertion-ordered.
        self._pending: dict[RunningReply, str | list[dict]] = {}
        self._open: set[RunningReply] = set()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._writer = ""
        self._failing = False  # writes fail (a full disk, the database down): said once
        self._swept_at = float("-inf")  # sweep_if_due's last sweep (time.monotonic())

    def reply(
        self,
        owner: str,
        conversation: Callable[[], str | None],
        model: str,
        *,
        ready: threading.Event | None = None,
        question: Callable[[], int | None] | None = None,
    ) -> RunningReply:
        """A reply to keep on record as it streams into the conversation `conversation()`
        names, once `ready` is set, as the answer to the question whose seq `question()` is."""
        return RunningReply(self, owner, conversation, model, ready, question)

    def open_now(self, reply: RunningReply) -> bool:
        """Put `reply` on record at once, empty and "streaming", in the calling thread (a page
        turn does it right after its question, off the first token's path): from then on the
        records say a reply is coming, a returning page follows it (api/running.py), and Stop
        can reach it from any process (`Records.request_stop`). False when it could not."""
        with self._lock:
            self._ensure_thread()
            writer = self._writer
        row_id = self.records.open_reply(
            reply.owner,
            reply.conversation_id,
            "",
            model=reply.model,
            writer=writer,
            after=reply.after,
        )
        if row_id is None:
            return False
        with self._lock:
            reply.row_id = row_id
            self._open.add(reply)
            self._ensure_thread()  # an idle writer may have ended meanwhile: the reply needs beats
        return True

    def still_wanted(self, reply: RunningReply) -> bool:
        """Whether `reply` should go on after its page left: it is on record and nobody has
        stopped or cleared it. Unknown (no record, the database failing) is no."""
        if reply.row_id is None:
            return False
        try:
            return bool(self.records.reply_streaming(reply.row_id, after=reply.after))
        except Exception:
            log.exception("could not read whether a reply was stopped")
            return False

    def sweep(self) -> int:
        """Mark interrupted the replies that dead or silent writers left streaming."""
        silent_since = utcnow() - timedelta(seconds=self.stale_seconds)
        try:
            swept = self.records.sweep(silent_since=silent_since, gone=process_gone)
        except Exception:
            log.exception("could not look for replies left streaming")
            return 0
        if swept:
            log.warning("marked %d replies left streaming by a stopped process interrupted", swept)
        return swept

    def sweep_if_due(self, every: float = SWEEP_ON_READ_SECONDS) -> int:
        """`sweep`, at most once per `every` seconds in this process. For a page following a
        reply (api/running.py): when the instance writing it died (killed behind a load
        balancer), the instance the page now reaches may have no reply of its own streaming,
        so no writer thread of its sweeps; without this the page would follow a dead reply."""
        now = time.monotonic()
        with self._lock:
            if now - self._swept_at < every:
                return 0
            self._swept_at = now
        return self.sweep()

    def start(self) -> None:
        """Run this process's writer thread, which sweeps first (again after a fork: a child
        inherits the parent's state but not its thread)."""
        with self._lock:
            self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._writer = writer_id()
            self._pending.clear()
            self._open.clear()
            self._thread = None
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="records-journal", daemon=True)
            self._thread.start()

    def submit(self, reply: RunningReply, *, text: str | None = None, final=None) -> None:
        """Hand over a reply's newest text or its final entries (never waits for a write)."""
        with self._lock:
            self._ensure_thread()
            if final is not None:
                self._pending[reply] = final
            elif not isinstance(self._pending.get(reply), list):
                self._pending[reply] = text
            self._lock.notify()

    def _run(self) -> None:
        self.sweep()
        next_beat = time.monotonic() + self.heartbeat_seconds
        while True:
            with self._lock:
                self._lock.wait_for(
                    lambda: self._pending, timeout=max(0.0, next_beat - time.monotonic())
                )
                if not self._pending and not self._open:
                    self._thread = None  # idle: the next reply starts another
                    return
                work, self._pending = self._pending, {}
            self._write(work)
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self.heartbeat_seconds
                self._beat()

    def _write(self, work: dict) -> None:
        texts: dict[int, str] = {}
        after: dict[int, int] = {}
        failed = False
        for reply, item in work.items():
            try:
                if isinstance(item, list):
                    self._finish(reply, item)
                elif reply.row_id is None:
                    reply.row_id = self.records.open_reply(
                        reply.owner,
                        reply.conversation_id,
                        item,
                        model=reply.model,
                        writer=self._writer,
                        after=reply.after,
                    )
                    if reply.row_id is not None:
                        self._open.add(reply)
                else:
                    texts[reply.row_id] = item
                    if reply.after is not None:
                        after[reply.row_id] = reply.after
            except Exception:
                failed = self._failed("a streaming reply")
            finally:
                if isinstance(item, list):
                    self._open.discard(reply)
                    reply.ended.set()
        try:
            self.records.update_replies(texts, after)
        except Exception:
            failed = self._failed(f"the newest text of {len(texts)} streaming replies")
        if self._failing and not failed and work:
            self._failing = False
            log.warning("streaming replies are recorded again")

    def _failed(self, what: str) -> bool:
        # Once per outage, not once per batch of every reply: the cause is in the first one.
        if not self._failing:
            log.exception("could not record %s; later failures are not logged until it works", what)
            self._failing = True
        return True

    def _finish(self, reply: RunningReply, entries: list[dict]) -> None:
        if reply.row_id is None:
            for entry in entries:
                self.records.add_message(
                    reply.owner, reply.conversation_id, entry, after=reply.after
                )
        else:
            self.records.finish_reply(
                reply.owner, reply.conversation_id, reply.row_id, entries, after=reply.after
            )

    def _beat(self) -> None:
        try:
            if self._open:
                self.records.beat(self._writer)
        except Exception:
            log.exception("could not renew the heartbeat of streaming replies")
        self.sweep()
