"""Records that cannot be written (a real SQLite file opened read-only): every chat route still
answers, the page's turn says it is not saved, and the log says why once."""

from __future__ import annotations

import logging

import pytest

from services.records.repository import Records
from tests.fake_upstream import Reply
from tests.integration.test_page_turn import page_body, stream_turn

QUESTION = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def unwritable(tmp_path) -> str:
    path = tmp_path / "records.db"
    Records(f"sqlite:///{path}").upgrade()
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def test_chats_answer_unsaved_and_the_log_says_so_once(make_app, unwritable, fake, caplog):
    fake.script(*[Reply(f"answer {i}") for i in range(6)])
    with caplog.at_level(logging.INFO):
        app = make_app(database_url=unwritable)  # start-up's migration check fails too
        client = app.server.test_client()
        for i in range(3):
            planned, text, final = stream_turn(client, page_body(f"question {i}"))
            assert planned["saved"] is False
            assert text == f"answer {i}"
            assert "done" in final
        # A conversation the records could not keep: answered, not "unknown conversation".
        unsaved = {**QUESTION, "conversation_id": planned["conversation_id"]}
        answer = client.post("/api/chat", json=unsaved)
        assert answer.status_code == 200
        assert answer.get_json()["reply"] == "answer 3"
        assert client.post("/api/chat", json=QUESTION).get_json()["reply"] == "answer 4"
    failures = [r for r in caplog.records if "records cannot be written" in r.getMessage()]
    assert len(failures) == 1
    assert "readonly database" in failures[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]


def test_a_recorded_turn_says_it_is_saved(make_app, tmp_path, fake):
    fake.script(Reply("fine"))
    client = make_app(database_url=f"sqlite:///{tmp_path}/ok.db").server.test_client()
    planned, _, _ = stream_turn(client, page_body("question"))
    assert planned["saved"] is True


def test_no_records_say_nothing_about_saving(make_app, fake):
    fake.script(Reply("fine"))
    client = make_app(records_enabled=False).server.test_client()
    planned, _, _ = stream_turn(client, page_body("question"))
    assert planned["saved"] is None
