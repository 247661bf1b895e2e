"""The stream route holds a conversation to the persona it started with (issue 15).

Through the page's form of the request, the real `openai` SDK and the fake upstream: what the
fake records is the system prompt the model provider received.
"""

from __future__ import annotations

import pytest

from tests.fake_upstream import Reply
from tests.integration.test_page_turn import (
    identity_of,
    page_body,
    parse_sse,
    shipped_prompt,
    store_of,
    stream_turn,
    upstream_messages,
)
from tests.turns import reply, user


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(database_url=f"sqlite:///{tmp_path}/chat.db")


def start(client, persona: str, question: str = "Hello", **turn) -> tuple[str, list[dict]]:
    """A new conversation with one question; its id and the page's thread after it."""
    planned, text, _ = stream_turn(client, page_body(question, turn_persona=persona, **turn))
    return planned["conversation_id"], [user(question), reply(text)]


def test_a_new_conversation_is_recorded_with_the_requested_persona(app, fake):
    client = app.server.test_client()
    cid, _ = start(client, "wellness")

    assert upstream_messages(fake)[0]["content"] == shipped_prompt("wellness", "en")
    stored = store_of(app).fixed_persona(identity_of(client), cid)
    assert stored == {"persona": "wellness", "custom_prompt": None, "started": True}


def test_the_stored_persona_is_used_whatever_the_request_leaves_out(app, fake):
    client = app.server.test_client()
    cid, thread = start(client, "teacher")

    # A script (or an old page) that names no persona still gets the conversation's own.
    stream_turn(client, page_body("And then?", thread, conversation_id=cid, turn_persona=None))

    assert upstream_messages(fake)[0]["content"] == shipped_prompt("teacher", "en")


def test_another_persona_for_an_existing_conversation_is_refused_and_nothing_recorded(app, fake):
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)
    cid, thread = start(client, "general")
    before = store.history(owner, cid)
    asked = len(fake.requests)

    body = page_body("And now?", thread, conversation_id=cid, turn_persona="wellness")
    response = client.post("/api/chat/stream", json=body, headers={"Accept": "text/event-stream"})

    assert response.status_code == 409
    assert response.mimetype == "text/event-stream"
    [event] = parse_sse(response.get_data(as_text=True))
    assert event["error"]["type"] == "persona_changed"
    assert "new chat" in event["error"]["message"]
    assert len(fake.requests) == asked  # the model was not asked
    assert store.history(owner, cid) == before
    assert store.fixed_persona(owner, cid)["persona"] == "general"
    # A JSON caller gets the same refusal as JSON.
    response = client.post("/api/chat/stream", json=body)
    assert response.status_code == 409
    assert response.get_json()["error"]["type"] == "persona_changed"


def test_a_custom_prompt_is_fixed_with_its_conversation(app, fake):
    client = app.server.test_client()
    pirate = "You are a pirate librarian."
    cid, thread = start(client, "custom", turn_custom_prompt=f"  {pirate} ")
    assert store_of(app).fixed_persona(identity_of(client), cid)["custom_prompt"] == pirate

    fake.script(Reply("Arr."))
    same = page_body(
        "More?", thread, conversation_id=cid, turn_persona="custom", turn_custom_prompt=pirate
    )
    stream_turn(client, same)
    assert upstream_messages(fake)[0] == {"role": "system", "content": pirate}

    edited = {**same, "turn": {**same["turn"], "custom_prompt": "Be a ninja."}}
    response = client.post("/api/chat/stream", json=edited)
    assert response.status_code == 409
    assert upstream_messages(fake)[0] == {"role": "system", "content": pirate}


def test_an_imported_conversation_takes_its_persona_from_its_next_question(app, fake):
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)
    cid = store.create_conversation(owner)  # as services/importer.py makes one
    store.add_message(owner, cid, user("Old question"))
    store.add_message(owner, cid, reply("Old answer"))
    thread = store.history(owner, cid)

    stream_turn(client, page_body("Go on", thread, conversation_id=cid, turn_persona="teacher"))

    assert upstream_messages(fake)[0]["content"] == shipped_prompt("teacher", "en")
    assert store.fixed_persona(owner, cid)["persona"] == "teacher"
    refused = page_body("Go on", thread, conversation_id=cid, turn_persona="wellness")
    assert client.post("/api/chat/stream", json=refused).status_code == 409


def test_a_locked_deployment_uses_the_lock_whatever_was_stored_or_asked(make_app, fake, tmp_path):
    url = f"sqlite:///{tmp_path}/chat.db"
    client = make_app(database_url=url).server.test_client()
    cid, thread = start(client, "general")

    locked = make_app(database_url=url, persona_lock="wellness").server.test_client()
    locked.set_cookie(*_identity_cookie(client))
    planned, _, _ = stream_turn(
        locked, page_body("Hi", thread, conversation_id=cid, turn_persona="teacher")
    )

    assert planned["conversation_id"] == cid  # the same browser, the same conversation

    assert upstream_messages(fake)[0]["content"] == shipped_prompt("wellness", "en")


def _identity_cookie(client) -> tuple[str, str]:
    from api.identity import COOKIE

    cookie = client.get_cookie(COOKIE)
    return COOKIE, cookie.value
