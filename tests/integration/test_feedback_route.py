"""POST /api/chat/feedback: the page's 👍 / 👎, stored with the reply by its owner only
(issue 17 §3)."""

from __future__ import annotations

import pytest

from services.accounts import Accounts
from services.records.repository import Records
from tests.integration.test_recording import identity_of, store_of

URL = "/api/chat/feedback"
QUESTION = {"role": "user", "content": "Why is the sky blue?"}
ANSWER = {"role": "assistant", "content": "Rayleigh scattering.", "status": "done"}


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(database_url=f"sqlite:///{tmp_path}/chat.db")


def answered(app, owner: str) -> str:
    store = store_of(app)
    conversation = store.create_conversation(owner)
    for entry in (QUESTION, ANSWER):
        store.add_message(owner, conversation, entry)
    return conversation


def body(conversation: str, value, comment=None, **changes) -> dict:
    return {
        "conversation_id": conversation,
        "at": 1,
        "length": 2,
        "value": value,
        "comment": comment,
        **changes,
    }


def test_the_owner_rates_a_reply_and_the_record_keeps_it(app):
    client = app.server.test_client()
    owner = identity_of(client)
    conversation = answered(app, owner)

    answer = client.post(URL, json=body(conversation, "down", "<b>wrong</b>"))
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    stored = answer.get_json()
    assert (stored["feedback"], stored["feedback_comment"]) == ("down", "<b>wrong</b>")
    assert store_of(app).history(owner, conversation)[1]["feedback_comment"] == "<b>wrong</b>"

    cleared = client.post(URL, json=body(conversation, None))
    assert cleared.get_json() == {"feedback": None, "feedback_comment": None, "feedback_at": None}
    assert "feedback" not in store_of(app).history(owner, conversation)[1]


def test_another_browser_gets_what_a_missing_conversation_gets(app):
    owner = app.server.test_client()
    conversation = answered(app, identity_of(owner))
    other = app.server.test_client()
    for asked in (conversation, "0" * 32):
        answer = other.post(URL, json=body(asked, "up"))
        assert answer.status_code == 404
        assert answer.get_json()["error"]["type"] == "not_found"
    assert "feedback" not in store_of(app).history(identity_of(owner), conversation)[1]


@pytest.mark.parametrize(
    "changes",
    [
        {"at": 0},  # the question
        {"at": 5},  # nothing there
        {"length": 3},  # the page's thread is not the record
    ],
)
def test_no_finished_reply_there_is_a_404(app, changes):
    client = app.server.test_client()
    conversation = answered(app, identity_of(client))
    assert client.post(URL, json=body(conversation, "up", **changes)).status_code == 404


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"[]",
        b'{"conversation_id": "x"}',
        b'{"conversation_id": "a", "at": 1, "length": 2, "value": "meh"}',
        b'{"conversation_id": "a", "at": -1, "length": 2, "value": "up"}',
        b'{"conversation_id": "a b", "at": 1, "length": 2, "value": "up"}',
        b'{"conversation_id": "a", "at": 1, "length": 2, "value": "up", "extra": 1}',
        (
            '{"conversation_id": "a", "at": 1, "length": 2, "value": "down", "comment": "%s"}'
            % ("x" * 1001)
        ).encode(),
    ],
)
def test_a_malformed_request_is_a_400(app, sent):
    answer = app.server.test_client().post(
        URL, data=sent, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"]["type"] == "invalid_request"


def test_another_site_cannot_rate_for_the_user(app):
    client = app.server.test_client()
    conversation = answered(app, identity_of(client))
    answer = client.post(
        URL, json=body(conversation, "down"), headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 403
    assert "feedback" not in store_of(app).history(identity_of(client), conversation)[1]


def test_without_records_there_is_nowhere_to_keep_it(make_app):
    client = make_app(records_enabled=False).server.test_client()
    assert client.post(URL, json=body("a" * 32, "up")).status_code == 404


def test_with_accounts_a_user_rates_their_own_replies_only(make_app, tmp_path):
    """ACCOUNTS=true: the owner is the signed-in user, in any browser; nobody else (nor
    anyone signed out) can rate their replies."""
    url = f"sqlite:///{tmp_path}/accounts.db"
    records = Records(url)
    records.upgrade()
    accounts = Accounts(records)
    amy_id = accounts.add_user("amy", "amy-password").id
    accounts.add_user("bob", "bob-password")
    server = make_app(accounts=True, database_url=url).server
    conversation = records.create_conversation(amy_id)
    for entry in (QUESTION, ANSWER):
        records.add_message(amy_id, conversation, entry)

    assert server.test_client().post(URL, json=body(conversation, "up")).status_code == 401
    bob = server.test_client()
    bob.post("/login", json={"username": "bob", "password": "bob-password"})
    assert bob.post(URL, json=body(conversation, "up")).status_code == 404
    amy = server.test_client()  # another browser of hers
    amy.post("/login", json={"username": "amy", "password": "amy-password"})
    assert amy.post(URL, json=body(conversation, "down", "no")).status_code == 200
    assert records.history(amy_id, conversation)[1]["feedback_comment"] == "no"
    records.close()
