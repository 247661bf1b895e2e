"""Replies on record while they stream (services/records/journal.py), on SQLite."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from services.records import Records
from services.records.journal import Journal, process_gone, writer_id
from tests.records_db import sqlite_url

QUESTION = {"role": "user", "content": "Tell me a story."}


@pytest.fixture
def records(tmp_path):
    records = Records(sqlite_url(tmp_path))
    records.upgrade()
    yield records
    records.close()


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the wait"
        time.sleep(0.02)


def last(records, cid) -> dict:
    history = records.history("alice", cid)
    return history[-1] if history else {}


def test_the_reply_is_on_record_batch_by_batch(records):
    cid = records.create_conversation("alice")
    records.add_message("alice", cid, QUESTION)
    journal = Journal(records, batch_seconds=3600, batch_chars=10)
    reply = journal.reply("alice", lambda: cid, "gpt-4o-mini")
    reply.add("Once")
    reply.add(" upon")  # less than a batch: not on record yet
    time.sleep(0.2)
    assert records.history("alice", cid) == [QUESTION]
    reply.add(" a")  # 11 characters: the first batch opens the record
    wait_for(lambda: last(records, cid).get("content") == "Once upon a")
    assert last(records, cid)["status"] == "streaming"
    reply.add(" time")
    reply.add(" there")  # 11 more: the next batch
    wait_for(lambda: last(records, cid).get("content") == "Once upon a time there")
    final = {"role": "assistant", "content": "Once upon a time there!", "status": "done"}
    reply.end([final])  # returns once it is on record
    assert records.history("alice", cid) == [QUESTION, {**final, "model": None, "usage": None}]


def test_a_batch_is_due_after_batch_seconds_too(records):
    cid = records.create_conversation("alice")
    journal = Journal(records, batch_seconds=0.05, batch_chars=10_000)
    reply = journal.reply("alice", lambda: cid, "m")
    reply.add("a")
    time.sleep(0.1)
    reply.add("b")
    wait_for(lambda: last(records, cid).get("content") == "ab")
    reply.end([{"role": "assistant", "content": "ab", "status": "stopped"}])
    assert last(records, cid)["status"] == "stopped"


def test_nothing_is_written_before_the_question_is(records):
    cid = records.create_conversation("alice")
    journal = Journal(records, batch_seconds=3600, batch_chars=1)
    ready = threading.Event()
    reply = journal.reply("alice", lambda: cid, "m", ready=ready)
    reply.add("early")
    reply.add("!")
    time.sleep(0.2)
    assert records.history("alice", cid) == []
    records.add_message("alice", cid, QUESTION)
    ready.set()
    reply.add(" text")
    wait_for(lambda: len(records.history("alice", cid)) == 2)
    assert last(records, cid)["content"] == "early! text"  # after its question
    reply.end([{"role": "assistant", "content": "early! text", "status": "done"}])


def test_a_short_reply_is_written_once_at_its_end(records):
    cid = records.create_conversation("alice")
    journal = Journal(records, batch_seconds=3600, batch_chars=10_000)
    reply = journal.reply("alice", lambda: cid, "m", ready=threading.Event())
    reply.add("Hi")  # not ready: no record yet
    reply._ready.set()
    reply.end([{"role": "assistant", "content": "Hi", "status": "done"}])
    assert [e["content"] for e in records.history("alice", cid)] == ["Hi"]


def test_a_dead_process_is_gone_and_a_live_one_is_not():
    assert not process_gone(writer_id())
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from services.records.journal import writer_id; print(writer_id())",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = child.communicate(timeout=30)
    assert process_gone(out.strip())
    assert not process_gone("another-host:1:1")  # only its heartbeat can tell
    assert not process_gone(None) and not process_gone("garbage")


def test_the_sweep_leaves_live_writers_alone(records):
    cid = records.create_conversation("alice")
    dead = subprocess.run(
        [
            sys.executable,
            "-c",
            "from services.records.journal import writer_id; print(writer_id())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    records.open_reply("alice", cid, "dead's text", model=None, writer=dead)
    records.open_reply("alice", cid, "my text", model=None, writer=writer_id())
    assert Journal(records).sweep() == 1
    statuses = {e["content"]: e["status"] for e in records.history("alice", cid)}
    assert statuses == {"dead's text": "interrupted", "my text": "streaming"}


def test_a_page_asking_sweeps_at_most_once_per_interval(records):
    """GET /api/chat/running sweeps (sweep_if_due): a reply whose writer died is found by the
    instance a page asks, even one with no reply of its own; many pages cost one sweep."""
    cid = records.create_conversation("alice")
    dead = subprocess.run(
        [
            sys.executable,
            "-c",
            "from services.records.journal import writer_id; print(writer_id())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    journal = Journal(records)
    records.open_reply("alice", cid, "first", model=None, writer=dead)
    assert journal.sweep_if_due(every=3600) == 1
    records.open_reply("alice", cid, "second", model=None, writer=dead)
    assert journal.sweep_if_due(every=3600) == 0  # asked again at once: not yet
    assert journal.sweep_if_due(every=0) == 1


def test_failing_writes_are_logged_once_and_never_reach_the_stream(records, caplog):
    cid = records.create_conversation("alice")
    journal = Journal(records, batch_seconds=3600, batch_chars=1)

    def broken(*args, **kwargs):
        raise OSError("database or disk is full")

    journal.records = type(
        "Broken",
        (),
        {
            "open_reply": broken,
            "update_replies": broken,
            "add_message": broken,
            "finish_reply": broken,
            "sweep": lambda *a, **k: 0,
            "beat": broken,
        },
    )()
    replies = [journal.reply("alice", lambda: cid, "m") for _ in range(5)]
    for piece in "abcdef":
        for reply in replies:
            reply.add(piece)  # never raises
        time.sleep(0.02)
    for reply in replies:
        reply.end([{"role": "assistant", "content": "abcdef", "status": "done"}], wait=5)
    failures = [r for r in caplog.records if r.name == "services.records.journal"]
    assert len(failures) == 1 and "disk is full" in str(failures[0].exc_info[1])


def test_a_reply_streaming_when_its_conversation_is_cleared_lands_nowhere(records, monkeypatch):
    """Clear while a reply streams: the page aborts it, but the server's journal may still
    write its batches and its end. None of it may land in the cleared conversation, nor in
    the next turn the page starts there."""
    cid = records.create_conversation("alice")
    records.add_message("alice", cid, QUESTION)
    asked = records.newest_question("alice", cid)
    journal = Journal(records, batch_seconds=3600, batch_chars=5)
    old = journal.reply("alice", lambda: cid, "m", question=lambda: asked)
    old.add("Once upon")
    wait_for(lambda: last(records, cid).get("status") == "streaming")

    assert records.clear("alice", cid)
    # The next question, in the same conversation; its reply streams too.
    records.add_message("alice", cid, {"role": "user", "content": "Another one"})
    asked_next = records.newest_question("alice", cid)
    new = journal.reply("alice", lambda: cid, "m", question=lambda: asked_next)
    new.add("Fresh text")
    wait_for(lambda: last(records, cid).get("content") == "Fresh text")

    # A late batch of the old reply (SQLite may have given its row id to the new reply).
    written = threading.Event()
    update_replies = records.update_replies

    def spy(texts, after=None):
        update_replies(texts, after)
        written.set()

    monkeypatch.setattr(records, "update_replies", spy)
    old.add(" a time")
    assert written.wait(5)
    assert last(records, cid)["content"] == "Fresh text"
    usage = {"prompt_tokens": 7, "completion_tokens": 9}
    old.end(
        [
            {"role": "assistant", "content": "Once upon a time", "status": "cut", "usage": usage},
            {"role": "error", "kind": "network", "detail": "cut"},
        ]
    )
    assert records.history("alice", cid) == [
        {"role": "user", "content": "Another one"},
        {
            "role": "assistant",
            "content": "Fresh text",
            "model": "m",
            "usage": None,
            "status": "streaming",
        },
    ]
    assert records.conversation("alice", cid)["completion_tokens"] == 0
    new.end([{"role": "assistant", "content": "Fresh text!", "status": "done"}])
    assert last(records, cid)["content"] == "Fresh text!"


def test_a_reply_cleared_before_its_first_batch_lands_nowhere(records):
    cid = records.create_conversation("alice")
    records.add_message("alice", cid, QUESTION)
    asked = records.newest_question("alice", cid)
    journal = Journal(records, batch_seconds=3600, batch_chars=10_000)
    reply = journal.reply("alice", lambda: cid, "m", question=lambda: asked)
    reply.add("Hi")  # less than a batch: not on record yet
    assert records.clear("alice", cid)
    reply.end([{"role": "assistant", "content": "Hi", "status": "stopped"}])
    assert records.history("alice", cid) == []
    assert records.list_conversations("alice") == []
