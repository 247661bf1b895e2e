"""GuardedRecords on a real SQLite file that refuses writes (opened read-only)."""

from __future__ import annotations

import logging

import pytest

from services.records.guarded import GuardedRecords
from services.records.repository import Records

OWNER = "owner-1"


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "records.db"
    records = Records(f"sqlite:///{path}")
    records.upgrade()
    conversation = records.create_conversation(OWNER, title="kept")
    records.add_message(OWNER, conversation, {"role": "user", "content": "hello"})
    records.close()
    return path


def read_only(path) -> GuardedRecords:
    return GuardedRecords(Records(f"sqlite:///file:{path}?mode=ro&uri=true"))


def test_failed_writes_answer_not_done_and_are_logged_once(path, caplog):
    store = read_only(path)
    [kept] = store.list_conversations(OWNER)
    with caplog.at_level(logging.WARNING, logger="services.records.guarded"):
        for _ in range(30):
            new = store.create_conversation(OWNER)
            assert isinstance(new, str) and new != kept["id"]
            assert store.add_message(OWNER, kept["id"], {"role": "user", "content": "x"}) is False
            assert store.rename(OWNER, kept["id"], "renamed") is False
            assert store.delete(OWNER, kept["id"]) is False
            assert store.clear(OWNER, kept["id"]) is False
            assert store.set_persona(OWNER, kept["id"], "teacher") is False
    assert store.saving is False
    [logged] = caplog.records
    assert logged.levelno == logging.ERROR
    assert "readonly database" in logged.getMessage()
    # Neither the statement nor the user's text reaches the log.
    assert "INSERT" not in logged.getMessage() and "hello" not in logged.getMessage()
    assert store.history(OWNER, kept["id"]) == [{"role": "user", "content": "hello"}]


def test_a_write_that_works_again_says_so(path, caplog):
    store = GuardedRecords(Records(f"sqlite:///{path}"), saving=False)
    with caplog.at_level(logging.WARNING, logger="services.records.guarded"):
        conversation = store.create_conversation(OWNER)
    assert store.saving is True
    assert store.conversation(OWNER, conversation) is not None
    assert "written again" in caplog.text


def test_wrong_input_is_still_an_error(path):
    store = read_only(path)
    [kept] = store.list_conversations(OWNER)
    with pytest.raises(ValueError):
        store.add_message(OWNER, kept["id"], {"role": "robot"})
    assert store.saving is True


def test_a_heartbeat_that_works_is_not_the_records_saved_again(path, caplog):
    """On a full disk an UPDATE that fits its page can work while every insert fails: only a
    write that adds to the records turns saving back on (else the notice and the log line flip
    on every batch)."""
    store = GuardedRecords(Records(f"sqlite:///{path}"), saving=False)
    with caplog.at_level(logging.WARNING, logger="services.records.guarded"):
        store.beat("host:1:2")
        store.update_replies({})
    assert store.saving is False
    assert "written again" not in caplog.text
