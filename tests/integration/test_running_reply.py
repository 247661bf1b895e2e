"""GET /api/chat/running and POST /api/chat/stop: a reply being written is read and stopped by
the browser it belongs to, and only by it (issue 15, point 3)."""

from __future__ import annotations

import pytest

from tests.integration.test_recording import identity_of, store_of


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(database_url=f"sqlite:///{tmp_path}/chat.db")


def running_conversation(app, owner: str, text: str = "So far") -> tuple[str, int]:
    """A conversation of `owner` whose reply is being written (as a page turn leaves it)."""
    store = store_of(app)
    conversation = store.create_conversation(owner)
    store.add_message(owner, conversation, {"role": "user", "content": "Tell me"})
    row = store.open_reply(owner, conversation, "", model="gpt-4o-mini", writer="h:1:2")
    store.update_replies({row: text})
    return conversation, row


def test_the_owner_reads_the_running_reply_and_stops_it(app):
    client = app.server.test_client()
    conversation, row = running_conversation(app, identity_of(client))

    answer = client.get(f"/api/chat/running?conversation_id={conversation}")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json() == {"streaming": True, "content": "So far", "model": "gpt-4o-mini"}

    stopped = client.post("/api/chat/stop", json={"conversation_id": conversation})
    assert stopped.status_code == 202
    assert not store_of(app).reply_streaming(row)  # its writer ends it at its next look
    answer = client.get(f"/api/chat/running?conversation_id={conversation}")
    assert answer.get_json() == {"streaming": False, "content": "", "model": None}


def test_another_browser_can_neither_read_nor_stop_it(app):
    owner = app.server.test_client()
    conversation, row = running_conversation(app, identity_of(owner), "private words")
    other = app.server.test_client()
    unknown = "0" * 32

    # The same answers as for an id that does not exist: nothing to probe.
    for asked in (conversation, unknown):
        answer = other.get(f"/api/chat/running?conversation_id={asked}")
        assert answer.get_json() == {"streaming": False, "content": "", "model": None}
        assert other.post("/api/chat/stop", json={"conversation_id": asked}).status_code == 202
    assert store_of(app).reply_streaming(row)
    assert "private words" in owner.get(f"/api/chat/running?conversation_id={conversation}").text


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"{}",
        b'{"conversation_id": ""}',
        b'{"conversation_id": 5}',
        b'{"conversation_id": "x", "more": 1}',
        b'{"conversation_id": "' + b"a" * 65 + b'"}',
    ],
)
def test_a_malformed_stop_is_refused_in_plain_words(app, body):
    client = app.server.test_client()
    answer = client.post("/api/chat/stop", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert "conversation_id" in answer.get_json()["error"]["message"]


@pytest.mark.parametrize("query", ["", "?conversation_id=", "?conversation_id=a%20b", "?x=1"])
def test_a_malformed_read_is_refused_in_plain_words(app, query):
    answer = app.server.test_client().get(f"/api/chat/running{query}")
    assert answer.status_code == 400
    assert "conversation_id" in answer.get_json()["error"]["message"]


def test_without_records_there_is_nothing_running(make_app):
    client = make_app(records_enabled=False).server.test_client()
    answer = client.get("/api/chat/running?conversation_id=abc")
    assert answer.get_json()["streaming"] is False
    assert client.post("/api/chat/stop", json={"conversation_id": "abc"}).status_code == 202
