"""A cleared conversation's next page turn: the same record, started again (Records.clear)."""

from __future__ import annotations

import pytest

from tests.integration.test_page_turn import (
    identity_of,
    page_body,
    shipped_prompt,
    store_of,
    stream_turn,
    upstream_messages,
)


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(database_url=f"sqlite:///{tmp_path}/chat.db")


def test_the_next_question_after_clear_restarts_the_same_record_with_its_persona(app, fake):
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)
    planned, _, _ = stream_turn(client, page_body("Fractions?", turn_persona="teacher"))
    cid = planned["conversation_id"]
    assert store.conversation(owner, cid)["persona"] == "teacher"

    assert store.clear(owner, cid)
    # The page stays on it, and the persona was picked afresh (the page frees the picker).
    again, _, _ = stream_turn(
        client, page_body("Sleep tips?", conversation_id=cid, turn_persona="wellness")
    )

    assert again["conversation_id"] == cid
    found = store.conversation(owner, cid)
    assert (found["title"], found["persona"]) == ("Sleep tips?", "wellness")
    assert [(e["role"], e.get("content")) for e in store.history(owner, cid)] == [
        ("user", "Sleep tips?"),
        ("assistant", "Echo: Sleep tips?"),
    ]
    system = [m["content"] for m in upstream_messages(fake) if m["role"] == "system"]
    assert system == [shipped_prompt("wellness", "en")]
    assert [c["id"] for c in store.list_conversations(owner)] == [cid]
