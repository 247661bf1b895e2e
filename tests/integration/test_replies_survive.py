"""Replies survive a crash and a deploy (issue 14): gunicorn with the shipped config, a real
`kill -9` of a worker with 40 replies streaming, a real SIGTERM during a long reply.

The upstream (tests/fake_upstream.py) streams slowly, so every reply is mid-way when the
signal comes. Batches are by characters here (RECORD_BATCH_CHARS), so what a kill may lose is
a number of characters, not a time, and nothing depends on the machine's speed.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from services.records import Records
from services.records.models import Message
from tests.fake_upstream import FakeUpstream, Reply

BATCH_CHARS = 50
CHUNK = 5
# 600 numbered words of 5 characters, one piece every 0.1 s: a minute, longer than any test.
TEXT = "".join(f"w{n:03d} " for n in range(600))
STREAMS = 40


@dataclass
class Stream:
    """One client reading a page turn from /api/chat/stream on its own connection."""

    port: int
    conversation_id: str | None = None
    cookie: str = ""  # the identity the server gave this client
    text: str = ""
    final: dict | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    leave: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        body = {
            "turn": {"question": "A long story, please.", "history": [], "history_start": 0},
            "conversation_id": None,
            "lang": "en",
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", "/api/chat/stream", json.dumps(body), JSON)
            response = conn.getresponse()
            self.cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
            buffer = b""
            while not self.leave.is_set():
                data = response.read1(4096)
                if not data:
                    return  # the server went away mid-reply
                buffer += data
                *events, buffer = buffer.split(b"\n\n")
                for raw in events:
                    if raw.startswith(b"data: "):
                        self._take(json.loads(raw[6:]))
                if self.final is not None:
                    return
        except (OSError, http.client.HTTPException):
            return  # reset or cut short by a killed worker
        finally:
            conn.close()
            self.ended.set()

    def _take(self, event: dict) -> None:
        if "delta" in event:
            self.text += event["delta"]
        elif "turn" in event and "done" not in event and "error" not in event:
            self.conversation_id = event["turn"]["conversation_id"]
        else:
            self.final = event


JSON = {"Content-Type": "application/json"}


def start(streams: list[Stream]) -> None:
    for stream in streams:
        threading.Thread(target=stream.run, daemon=True).start()
        # Not all in one burst: the fake upstream listens with the standard library's backlog
        # of 5, and a connect beyond it waits for a SYN retry (seconds).
        time.sleep(0.05)


def wait_until(condition, timeout: float, what) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what() if callable(what) else what}")
        time.sleep(0.1)


def reply_row(records: Records, conversation_id: str):
    """The conversation's assistant message (None before the first batch)."""
    with records.engine.connect() as connection:
        return connection.execute(
            select(Message.content, Message.status).where(
                Message.conversation_id == conversation_id, Message.role == "assistant"
            )
        ).first()


def writing(records: Records, stream: Stream) -> str | None:
    """The process still writing the stream's reply, None once it has ended."""
    with records.engine.connect() as connection:
        return connection.scalar(
            select(Message.writer).where(
                Message.conversation_id == stream.conversation_id, Message.role == "assistant"
            )
        )


def stop(port: int, stream: Stream) -> int:
    """Stop the stream's reply as the page does (POST /api/chat/stop, as the same browser)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = json.dumps({"conversation_id": stream.conversation_id})
        conn.request("POST", "/api/chat/stop", body, {**JSON, "Cookie": stream.cookie})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def status(records: Records, stream: Stream) -> str | None:
    row = reply_row(records, stream.conversation_id)
    return row.status if row else None


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.fixture
def app_with_records(upstream: FakeUpstream, tmp_path):
    """Start gunicorn (shipped config) with records in an SQLite file; stopped at the end."""
    from tests.conftest import TEST_KEY
    from tests.e2e.conftest import AppProcess

    started = []
    url = f"sqlite:///{tmp_path}/chat.db"

    def launch(**env: str) -> AppProcess:
        app = AppProcess(
            {
                "OPENAI_API_KEY": TEST_KEY,
                "OPENAI_BASE_URL": upstream.base_url,
                "OPENAI_MAX_RETRIES": "0",
                "OPENAI_TIMEOUT": "60",
                "RECORDS_ENABLED": "true",
                "DATABASE_URL": url,
                "RECORD_BATCH_CHARS": str(BATCH_CHARS),
                "RECORD_BATCH_SECONDS": "3600",
                **env,
            }
        )
        started.append(app)
        return app

    records = Records(url)
    yield launch, records
    for app in started:
        app.stop()
    records.close()


def assert_all_but_the_last_batch(records: Records, stream: Stream) -> str:
    """The reply on record is the text so far, short of at most its last batch."""
    row = reply_row(records, stream.conversation_id)
    assert row is not None, f"nothing on record for a reply that streamed {len(stream.text)}"
    assert TEXT.startswith(row.content) and TEXT.startswith(stream.text)
    lost = len(stream.text) - len(row.content)
    assert lost <= BATCH_CHARS + CHUNK, (len(stream.text), len(row.content))
    return row.status


def test_a_killed_worker_loses_at_most_the_last_batch_of_each_reply(fake, app_with_records):
    launch, records = app_with_records
    # Two workers, as the probe; each could take every stream (no queueing).
    app = launch(WEB_CONCURRENCY="2", GUNICORN_THREADS=str(STREAMS))
    master = app._proc.pid
    wait_until(lambda: len(workers_of(master)) == 2, 30, "two workers")
    fake.script(*[Reply(TEXT, chunk_size=CHUNK, delay=0.1)] * STREAMS)
    streams = [Stream(app.port) for _ in range(STREAMS)]
    start(streams)
    # Every reply a few batches in, and its first batches on record.
    wait_until(
        lambda: all(len(s.text) >= 3 * BATCH_CHARS for s in streams),
        60,
        lambda: sorted(len(s.text) for s in streams),
    )
    wait_until(
        lambda: all(status(records, s) == "streaming" for s in streams),
        30,
        lambda: [status(records, s) for s in streams],
    )

    victim = workers_of(master)[0]
    os.kill(victim, signal.SIGKILL)
    # Its clients see their connection drop; the others stream on.
    wait_until(lambda: len(workers_of(master)) == 2 and victim not in workers_of(master), 30, "")
    time.sleep(1.0)  # a moment for every dropped connection to be noticed
    cut = [s for s in streams if s.ended.is_set()]
    alive = [s for s in streams if not s.ended.is_set()]
    assert cut, "no stream was on the killed worker"
    assert all(s.final is None for s in cut)

    # The new worker's start marks the dead worker's replies interrupted, text kept...
    wait_until(lambda: all(status(records, s) == "interrupted" for s in cut), 30, "the sweep")
    for stream in cut:
        assert_all_but_the_last_batch(records, stream)
    # ... and leaves the live worker's alone.
    assert all(status(records, s) == "streaming" for s in alive)

    # Those clients leave (a reload, a closed tab): their replies go on, on record...
    for stream in alive:
        stream.leave.set()
    wait_until(
        lambda: all(
            len(reply_row(records, s.conversation_id).content) > len(s.text) + BATCH_CHARS
            for s in alive
        ),
        60,
        "the replies going on without their clients",
    )
    # ... until Stop, from whichever worker takes it, ends each with its text.
    for stream in alive:
        assert stop(app.port, stream) == 202
    wait_until(lambda: all(writing(records, s) is None for s in alive), 30, "stopped")
    for stream in alive:
        row = reply_row(records, stream.conversation_id)
        assert row.status == "stopped"
        assert TEXT.startswith(row.content) and len(row.content) > len(stream.text)


def test_replies_of_a_killed_server_are_interrupted_at_its_next_start(fake, app_with_records):
    launch, records = app_with_records
    app = launch()
    fake.script(*[Reply(TEXT, chunk_size=CHUNK, delay=0.1)] * 3)
    streams = [Stream(app.port) for _ in range(3)]
    start(streams)
    wait_until(lambda: all(len(s.text) >= 3 * BATCH_CHARS for s in streams), 60, "text")
    wait_until(lambda: all(status(records, s) == "streaming" for s in streams), 30, "records")

    app.kill()  # master and workers at once, as an OOM kill or a power cut
    assert all(status(records, s) == "streaming" for s in streams)
    launch()  # the next start sweeps before it serves
    for stream in streams:
        assert assert_all_but_the_last_batch(records, stream) == "interrupted"


def test_sigterm_ends_a_long_reply_with_a_final_event_and_its_record(fake, app_with_records):
    launch, records = app_with_records
    app = launch(STREAM_STOP_GRACE="1")
    fake.script(Reply(TEXT, chunk_size=CHUNK, delay=0.1))
    stream = Stream(app.port)
    start([stream])
    wait_until(lambda: len(stream.text) >= 3 * BATCH_CHARS, 60, "text")

    app._proc.send_signal(signal.SIGTERM)  # a deploy: gunicorn stops its workers gracefully
    assert stream.ended.wait(25), "no final event before graceful_timeout"
    final = stream.final
    assert final is not None and final["error"]["type"] == "server_stopping", final
    # The page is told what is on record: the text, interrupted, then the error to retry.
    kinds = [(e["role"], e.get("status") or e.get("kind")) for e in final["entries"]]
    assert kinds == [("assistant", "interrupted"), ("error", "server_stopping")]
    app._proc.wait(30)
    assert TEXT.startswith(stream.text) and len(stream.text) < len(TEXT)

    with records.engine.connect() as connection:
        rows = connection.execute(
            select(Message.role, Message.content, Message.status, Message.error_kind)
            .where(Message.conversation_id == stream.conversation_id)
            .order_by(Message.seq)
        ).all()
    question, reply, error = rows
    assert question.role == "user"
    assert (reply.role, reply.status) == ("assistant", "interrupted")
    assert reply.content == stream.text  # complete: every character the client got
    assert (error.role, error.error_kind) == ("error", "server_stopping")
    assert "Traceback" not in app.log()
