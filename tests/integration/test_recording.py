"""The server keeps the record: every reply stored however the stream ends, per browser."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest

from api.identity import COOKIE
from tests.fake_upstream import Cut, Error, Reply

QUESTION = [{"role": "user", "content": "What is a record?"}]


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(database_url=f"sqlite:///{tmp_path}/chat.db")


def store_of(app):
    return app.server.extensions["chat_records"]


def identity_of(client) -> str:
    """The browser identity the app gave this client (read back through the signer)."""
    client.get("/healthz")
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "the app did not issue an identity cookie"
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer("test-secret-not-for-production", salt="chat-identity").loads(
        cookie.value
    )


def _streaming(history: list[dict]) -> bool:
    return not history or history[-1].get("status") == "streaming"


def stream(client, conversation_id: str, **body) -> list[dict]:
    response = client.post(
        "/api/chat/stream",
        json={"messages": QUESTION, "conversation_id": conversation_id, **body},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    return [json.loads(block[len("data: ") :]) for block in text.split("\n\n") if block]


def test_the_identity_cookie_is_signed_and_http_only(app):
    client = app.server.test_client()
    response = client.get("/healthz")
    header = response.headers["Set-Cookie"]
    assert header.startswith(f"{COOKIE}=")
    assert "HttpOnly" in header and "SameSite=Lax" in header
    # The same browser keeps its identity; a forged cookie gets a new one.
    again = client.get("/healthz")
    assert "Set-Cookie" not in again.headers
    forged = app.server.test_client()
    forged.set_cookie(COOKIE, "someone-elses-id")
    assert forged.get("/healthz").headers["Set-Cookie"].startswith(f"{COOKIE}=")


def test_a_finished_reply_is_stored(app, fake):
    fake.script(Reply("A record is kept."))
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)
    cid = store.create_conversation(owner)
    events = stream(client, cid)
    assert events[-1]["done"] is True
    [entry] = store.history(owner, cid)
    assert entry["role"] == "assistant"
    assert entry["content"] == "A record is kept."
    assert entry["status"] == "done"
    assert entry["usage"]["completion_tokens"] > 0


def test_a_failed_reply_keeps_its_partial_text_and_the_error(app, fake):
    fake.script(Cut("Half of it", chunk_size=3))
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)
    cid = store.create_conversation(owner)
    stream(client, cid)
    partial, error = store.history(owner, cid)
    assert (partial["content"], partial["status"]) == ("Half of it", "cut")
    assert (error["role"], error["kind"]) == ("error", "stream_cut")


def test_an_upstream_error_is_stored(app, fake):
    fake.script(Error(429, "Slow down", "rate_limit_exceeded"))
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)
    cid = store.create_conversation(owner)
    stream(client, cid)
    [error] = store.history(owner, cid)
    assert (error["role"], error["kind"]) == ("error", "rate_limited")


def test_the_json_route_stores_its_reply_too(app, fake):
    fake.script(Reply("Whole."))
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)
    cid = store.create_conversation(owner)
    response = client.post("/api/chat", json={"messages": QUESTION, "conversation_id": cid})
    assert response.status_code == 200
    [entry] = store.history(owner, cid)
    assert (entry["content"], entry["status"]) == ("Whole.", "done")


def test_another_browsers_conversation_is_refused_and_untouched(app, fake):
    store = store_of(app)
    victim = identity_of(app.server.test_client())
    cid = store.create_conversation(victim)
    attacker = app.server.test_client()
    identity_of(attacker)
    for route in ("/api/chat/stream", "/api/chat"):
        response = attacker.post(route, json={"messages": QUESTION, "conversation_id": cid})
        assert response.status_code == 404
        assert response.get_json()["error"]["type"] == "not_found"
    # Indistinguishable from an id that does not exist at all.
    missing = attacker.post("/api/chat", json={"messages": QUESTION, "conversation_id": "0" * 32})
    assert missing.status_code == 404
    assert (
        missing.get_json()
        == attacker.post(
            "/api/chat", json={"messages": QUESTION, "conversation_id": cid}
        ).get_json()
    )
    assert store.history(victim, cid) == []
    assert fake.requests == []


def test_without_a_conversation_id_nothing_is_stored(app, fake):
    client = app.server.test_client()
    owner = identity_of(client)
    response = client.post("/api/chat", json={"messages": QUESTION})
    assert response.status_code == 200
    assert store_of(app).list_conversations(owner) == []


def test_with_records_off_the_id_is_ignored_and_nothing_is_kept(make_app, fake):
    app = make_app(records_enabled=False)
    assert app.server.extensions["chat_records"] is None
    response = app.server.test_client().post(
        "/api/chat", json={"messages": QUESTION, "conversation_id": "0" * 32}
    )
    assert response.status_code == 200


def test_a_browser_that_goes_away_mid_reply_loses_nothing(make_app, fake, tmp_path):
    """Stop, a closed tab or a lost network: the text generated so far is kept, marked."""
    from tests.conftest import LiveServer

    app = make_app(database_url=f"sqlite:///{tmp_path}/chat.db")
    store = store_of(app)
    fake.script(Reply("word " * 400, chunk_size=5, delay=0.02))
    with LiveServer(app.server) as server:
        port = urlsplit(server.url).port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/healthz")
        first = conn.getresponse()
        cookie = first.getheader("Set-Cookie").split(";")[0]
        first.read()
        from itsdangerous import URLSafeSerializer

        owner = URLSafeSerializer("test-secret-not-for-production", salt="chat-identity").loads(
            cookie.split("=", 1)[1]
        )
        cid = store.create_conversation(owner)
        body = json.dumps({"messages": QUESTION, "conversation_id": cid})
        conn.request(
            "POST",
            "/api/chat/stream",
            body,
            {"Content-Type": "application/json", "Cookie": cookie},
        )
        response = conn.getresponse()
        received = b""
        while received.count(b"\n\n") < 5:
            received += response.read1(4096)
        response.close()  # the browser goes away (the response holds the socket too)
        conn.close()

        deadline = time.monotonic() + 10
        # The reply is on record while it streams; wait for how it ended.
        while time.monotonic() < deadline and _streaming(store.history(owner, cid)):
            time.sleep(0.05)
    [entry] = store.history(owner, cid)
    assert entry["status"] == "stopped"
    assert entry["content"].startswith("word word")
    assert len(entry["content"]) < len("word " * 400)
    assert fake.requests[-1].client_disconnected.wait(5)
