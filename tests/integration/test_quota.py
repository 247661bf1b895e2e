"""Per-user quotas end to end: every reply leaves one usage row, and a user whose day is spent
is refused before the model is asked (page, /api/chat*, gateway), on every app sharing the
database."""

from __future__ import annotations

import http.client
import json
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from flask import g
from sqlalchemy import select

from services.accounts import Accounts
from services.records.models import UsageEvent
from services.records.repository import Records
from tests.conftest import LiveServer
from tests.fake_upstream import Cut, Reply
from tests.integration.test_page_turn import page_body, parse_sse

USER = [{"role": "user", "content": "Hello"}]
USED = {"prompt_tokens": 60, "completion_tokens": 50, "total_tokens": 110}
BUDGET = 100
GATEWAY_KEY = "gw-test-key"


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path}/quota.db"
    records = Records(url)
    records.upgrade()
    yield url, records
    records.close()


@pytest.fixture
def amy(database):
    _, records = database
    return Accounts(records).add_user("amy", "amy-password")


def quota_app(make_app, url: str, **overrides):
    values = {
        "accounts": True,
        "database_url": url,
        "user_daily_tokens": BUDGET,
        "gateway_api_keys": GATEWAY_KEY,
    }
    return make_app(**(values | overrides)).server


@pytest.fixture
def server(make_app, database, amy):
    return quota_app(make_app, database[0])


def signed_in(server, name: str = "amy", password: str = "amy-password"):
    client = server.test_client()
    answer = client.post("/login", json={"username": name, "password": password})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return client


def rows(records) -> list:
    with records.engine.connect() as connection:
        return connection.execute(select(UsageEvent).order_by(UsageEvent.id)).all()


def settled(records) -> bool:
    """Whether the reply's row says what it used (no longer a reservation: services/quota.py)."""
    found = rows(records)
    return bool(found) and all(row.reserved is None for row in found)


def to_midnight() -> int:
    now = datetime.now(timezone.utc)
    midnight = datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)
    return int((midnight - now).total_seconds())


def assert_refused(response, *, budget: int = BUDGET, used: int = 110) -> dict:
    """A 429 whose Retry-After is the time to UTC midnight; the error object."""
    assert response.status_code == 429, response.get_data(as_text=True)
    assert abs(int(response.headers["Retry-After"]) - to_midnight()) <= 5
    if response.mimetype == "text/event-stream":
        [event] = parse_sse(response.get_data(as_text=True))
        error = event["error"]
    else:
        error = response.get_json()["error"]
    assert error["type"] == "daily_quota"
    assert f"{budget:,} tokens" in error["message"]
    assert error["quota"]["budget"] == budget and error["quota"]["used"] == used
    assert error["quota"]["timezone"] == "UTC"
    return error


# ---------------------------------------------------------------------------- /api/chat*


def test_api_chat_counts_each_reply_and_refuses_once_the_day_is_spent(server, database, amy, fake):
    fake.script(Reply("Hello!", usage=USED))
    client = signed_in(server)
    assert client.post("/api/chat", json={"messages": USER}).status_code == 200
    [row] = rows(database[1])
    assert (row.owner, row.source, row.model) == (amy.id, "api", "gpt-4o-mini")
    assert (row.prompt_tokens, row.completion_tokens, row.conversation_id) == (60, 50, None)

    refused = client.post("/api/chat", json={"messages": USER})
    assert_refused(refused)
    refused = client.post("/api/chat/stream", json={"messages": USER})
    assert_refused(refused)
    assert len(fake.requests) == 1  # the model was never asked again
    assert len(rows(database[1])) == 1


def test_a_reply_records_its_cost_with_the_prices_currency(make_app, database, amy, fake, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "currency: USD\nmodels:\n  gpt-4o-mini: {input: 2, output: 8, currency: CNY}\n"
    )
    server = quota_app(make_app, database[0], prices_file=str(prices), user_daily_tokens=None)
    client = signed_in(server)
    fake.script(Reply("Hello!", usage=USED))
    assert client.post("/api/chat", json={"messages": USER}).status_code == 200
    [row] = rows(database[1])
    # 60 input and 50 output tokens at ¥2 / ¥8 per million.
    assert (row.cost, row.currency) == (pytest.approx(0.00052), "CNY")


def test_a_users_own_budget_wins_over_the_default(server, database, fake):
    _, records = database
    Accounts(records).set_daily_tokens("amy", 1000)
    fake.script(Reply("Hello!", usage=USED), Reply("Again", usage=USED))
    client = signed_in(server)
    assert client.post("/api/chat", json={"messages": USER}).status_code == 200
    assert client.post("/api/chat", json={"messages": USER}).status_code == 200
    Accounts(records).set_daily_tokens("amy", 200)
    assert_refused(client.post("/api/chat", json={"messages": USER}), budget=200, used=220)


def test_no_budget_means_no_refusal_but_usage_is_still_counted(make_app, database, amy, fake):
    server = quota_app(make_app, database[0], user_daily_tokens=None)
    fake.script(Reply("One", usage=USED), Reply("Two", usage=USED))
    client = signed_in(server)
    for _ in range(2):
        assert client.post("/api/chat", json={"messages": USER}).status_code == 200
    assert [r.owner for r in rows(database[1])] == [amy.id, amy.id]


def test_without_accounts_usage_is_counted_per_browser_and_nobody_is_refused(
    make_app, database, fake
):
    url, records = database
    server = make_app(database_url=url, user_daily_tokens=1).server
    fake.script(Reply("One", usage=USED), Reply("Two", usage=USED))
    client = server.test_client()
    for _ in range(2):
        assert client.post("/api/chat", json={"messages": USER}).status_code == 200
    owners = {row.owner for row in rows(records)}
    assert len(owners) == 1 and len(rows(records)) == 2


def test_with_records_off_nothing_is_counted_and_chats_go_on(make_app, fake):
    server = make_app(records_enabled=False, user_daily_tokens=1).server
    assert server.extensions.get("chat_quota") is None
    fake.script(Reply("One", usage=USED), Reply("Two", usage=USED))
    client = server.test_client()
    assert client.post("/api/chat", json={"messages": USER}).status_code == 200
    response = client.post("/api/chat/stream", json=page_body("Hi"))
    assert parse_sse(response.get_data(as_text=True))[-1].get("done")


def test_a_usage_table_that_fails_costs_the_count_not_the_chat(server, database, fake, caplog):
    _, records = database
    with records.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE usage_events")
    fake.script(Reply("One", usage=USED), Reply("Two", usage=USED), Reply("Three", usage=USED))
    client = signed_in(server)
    with caplog.at_level("ERROR", logger="services.quota"):
        for _ in range(2):  # over the budget, but the count cannot be read: not refused
            assert client.post("/api/chat", json={"messages": USER}).status_code == 200
        response = client.post("/api/chat/stream", json=page_body("Hi"))
        assert parse_sse(response.get_data(as_text=True))[-1].get("done")
    said = [r.getMessage() for r in caplog.records if r.name == "services.quota"]
    assert len(said) == 1 and "no such table" in said[0], said


# ---------------------------------------------------------------------------- the page's turn


def test_a_page_turn_counts_then_the_next_is_refused_in_the_thread(server, database, amy, fake):
    _, records = database
    fake.script(Reply("Hi there", usage=USED))
    client = signed_in(server)
    response = client.post("/api/chat/stream", json=page_body("What is 2 + 2?"))
    final = parse_sse(response.get_data(as_text=True))[-1]
    assert final.get("done"), final
    conversation = final["turn"]["conversation_id"]
    [row] = rows(records)
    assert (row.owner, row.source, row.conversation_id) == (amy.id, "page", conversation)
    assert (row.prompt_tokens, row.completion_tokens, row.persona) == (60, 50, "general")

    body = page_body("And 3 + 3?", conversation_id=conversation)
    refused = client.post("/api/chat/stream", json=body, headers={"Accept": "text/event-stream"})
    assert refused.mimetype == "text/event-stream"
    error = assert_refused(refused)
    assert error["retry_after"] == int(refused.headers["Retry-After"])
    assert len(fake.requests) == 1
    # Nothing of the refused turn is on record: the conversation still has its first round.
    assert [e["role"] for e in records.history(amy.id, conversation)] == ["user", "assistant"]


def test_a_cut_reply_counts_what_it_used(server, database, fake):
    fake.script(Cut("Half of an answer that breaks off"))
    client = signed_in(server)
    response = client.post("/api/chat/stream", json=page_body("Tell me a story"))
    final = parse_sse(response.get_data(as_text=True))[-1]
    assert final["error"]["type"] == "stream_cut", final
    [row] = rows(database[1])
    # Counted offline: the question and persona that were sent, and the text that arrived.
    assert row.prompt_tokens > 5 and row.completion_tokens > 3


def test_a_stopped_reply_counts_what_it_used(make_app, database, amy, fake):
    _, records = database
    fake.script(Reply("word " * 400, chunk_size=5, delay=0.05))
    server = quota_app(make_app, database[0])
    with LiveServer(server) as live:
        url = urlsplit(live.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        login = json.dumps({"username": "amy", "password": "amy-password"})
        conn.request("POST", "/login", login, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200
        cookies = "; ".join(
            value.split(";", 1)[0] for value in answer.headers.get_all("Set-Cookie")
        )
        headers = {"Content-Type": "application/json", "Cookie": cookies}
        conn.request("POST", "/api/chat/stream", json.dumps({"messages": USER}), headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert response.readline().startswith(b"data: ")  # the first text
        (upstream,) = fake.wait_for_requests(1)
        response.close()
        conn.close()  # the client leaves: the reply stops
        assert upstream.client_disconnected.wait(5)
        deadline = time.monotonic() + 5
        # The row is there from the start (its reservation): wait until the end settles it.
        while not settled(records) and time.monotonic() < deadline:
            upstream.finished.wait(0.05)
    [row] = rows(records)
    assert row.owner == amy.id and row.source == "api"
    full = len("word " * 400) // 4
    assert row.prompt_tokens > 0 and 0 < row.completion_tokens < full


def test_a_page_turn_stopped_with_stop_counts_what_it_used(make_app, database, amy, fake):
    _, records = database
    fake.script(Reply("word " * 400, chunk_size=5, delay=0.05))
    server = quota_app(make_app, database[0])
    with LiveServer(server) as live:
        url = urlsplit(live.url)

        def connect():
            return http.client.HTTPConnection(url.hostname, url.port, timeout=10)

        conn = connect()
        login = json.dumps({"username": "amy", "password": "amy-password"})
        conn.request("POST", "/login", login, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        cookies = "; ".join(v.split(";", 1)[0] for v in answer.headers.get_all("Set-Cookie"))
        headers = {"Content-Type": "application/json", "Cookie": cookies}
        body = json.dumps(page_body("Tell me a long story"))
        conn.request("POST", "/api/chat/stream", body, headers=headers)
        response = conn.getresponse()
        conversation = None
        while conversation is None:  # the turn's first event names its conversation
            line = response.readline()
            assert line, "the stream ended before it said where the turn is recorded"
            if line.startswith(b"data: "):
                conversation = json.loads(line[6:]).get("turn", {}).get("conversation_id")
        # Stop, as the page does: mark the reply stopped on the server, then hang up.
        stop = connect()
        stop.request(
            "POST", "/api/chat/stop", json.dumps({"conversation_id": conversation}), headers
        )
        assert stop.getresponse().status == 202
        response.close()
        conn.close()
        (upstream,) = fake.wait_for_requests(1)
        assert upstream.client_disconnected.wait(10), "the reply went on after Stop"
        deadline = time.monotonic() + 5
        # The row is there from the start (its reservation): wait until the end settles it.
        while not settled(records) and time.monotonic() < deadline:
            upstream.finished.wait(0.05)
    [row] = rows(records)
    assert (row.owner, row.source, row.conversation_id) == (amy.id, "page", conversation)
    full = len("word " * 400) // 4
    assert row.prompt_tokens > 0 and 0 < row.completion_tokens < full
    [*_, reply] = records.history(amy.id, conversation)
    assert reply["status"] == "stopped"


# ---------------------------------------------------------------------------- the gateway


def gateway(client, token: str = GATEWAY_KEY, *, stream: bool = False):
    return client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": USER, "stream": stream},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_gateway_counts_and_refuses_in_openais_form(server, database, amy, fake):
    """A user's own API token makes the gateway act as that user: their count, their quota."""
    fake.script(Reply("Hello!", usage=USED))
    client = server.test_client()
    token = Accounts(database[1]).create_token(amy.id, "script")
    assert gateway(client, token).status_code == 200
    [row] = rows(database[1])
    assert (row.owner, row.source, row.prompt_tokens, row.completion_tokens) == (
        amy.id,
        "gateway",
        60,
        50,
    )
    refused = gateway(client, token)
    assert refused.status_code == 429
    assert abs(int(refused.headers["Retry-After"]) - to_midnight()) <= 5
    assert refused.headers["x-should-retry"] == "false"  # the OpenAI SDK waits, not retries
    error = refused.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("insufficient_quota", "daily_quota")
    assert len(fake.requests) == 1


def test_a_gateway_stream_without_usage_is_counted_offline(server, database, fake):
    fake.script(Reply("A streamed reply of some length"))
    response = gateway(server.test_client(), stream=True)
    assert response.status_code == 200
    assert response.get_data(as_text=True).endswith("data: [DONE]\n\n")
    [row] = rows(database[1])
    assert row.source == "gateway" and row.prompt_tokens > 0 and row.completion_tokens > 0
    # The gateway's own keys are no user's: one owner for all their rows, no quota.
    assert row.owner == "gateway"


# ---------------------------------------------------------------------------- shared counts


def test_two_apps_on_one_database_share_the_count(make_app, database, amy, fake):
    first = quota_app(make_app, database[0])
    second = quota_app(make_app, database[0])
    fake.script(Reply("Hello!", usage=USED))
    assert signed_in(first).post("/api/chat", json={"messages": USER}).status_code == 200
    assert_refused(signed_in(second).post("/api/chat", json={"messages": USER}))
    assert len(fake.requests) == 1


def test_with_redis_the_count_is_still_the_databases(make_app, database, amy, fake):
    from tests.redis_server import flush, redis_server

    servers = redis_server()
    url = next(servers)
    try:
        flush(url)
        server = quota_app(
            make_app, database[0], ratelimit_storage_uri=url, max_request_per_hour=50
        )
        other = quota_app(make_app, database[0], ratelimit_storage_uri=url)
        fake.script(Reply("Hello!", usage=USED))
        assert signed_in(server).post("/api/chat", json={"messages": USER}).status_code == 200
        assert_refused(signed_in(other).post("/api/chat", json={"messages": USER}))
        assert len(fake.requests) == 1
    finally:
        servers.close()


# ---------------------------------------------------------------------------- PostgreSQL


def test_the_count_on_postgresql(postgres_server):
    from services.quota import Quota, Spent
    from tests import records_db

    with records_db.empty_schema(postgres_server) as url:
        records = Records(url)
        records.upgrade()
        try:
            quota = Quota.for_records(records, 100, "Asia/Shanghai")
            noon = datetime(2026, 12, 6, 12, tzinfo=timezone.utc)  # 20:00 in Shanghai
            for at, tokens in (
                (datetime(2026, 12, 5, 15, 59, tzinfo=timezone.utc), 1000),  # the day before
                (datetime(2026, 12, 5, 16, 0, tzinfo=timezone.utc), 30),  # Shanghai's midnight
                (noon, 40),
            ):
                spent = Spent(owner="a" * 32, source="api", prompt_tokens=tokens)
                assert quota.record(spent, at=at)
            assert quota.used_today("a" * 32, now=noon) == 70
            user = type("U", (), {"id": "a" * 32, "daily_tokens": 70})()
            state = quota.left(user, now=noon)
            assert state.spent and state.resets_at == datetime(2026, 12, 6, 16, tzinfo=timezone.utc)
        finally:
            records.close()


# ---------------------------------------------------------------------------- #quota-left


def test_quota_left_says_what_is_left_in_the_users_language(server, amy, fake):
    from pydantic import ValidationError

    from callbacks.quota import show_quota_left

    fake.script(Reply("Hello!", usage={"prompt_tokens": 20, "completion_tokens": 10}))
    assert signed_in(server).post("/api/chat", json={"messages": USER}).status_code == 200
    # The callback as Dash runs it for the signed-in user (an app of this process has no
    # callback map of its own: Dash gives the global callbacks to the first app only).
    with server.test_request_context("/_dash-update-component", method="POST"):
        g.user = amy
        assert show_quota_left(None, "zh-cn") == (
            "今日剩余 70 / 100 tokens",
            False,
            "你每天可用的 tokens，于 UTC 时间 00:00 重置。",
        )
        assert show_quota_left(None, "en")[0] == "70 of 100 tokens left today"
        # A value of the wrong shape is refused (a 400 from the callback guard).
        with pytest.raises(ValidationError):
            show_quota_left(None, ["en"])
    with server.test_request_context("/_dash-update-component", method="POST"):
        g.user = None  # not signed in (the guard refuses it first anyway)
        assert show_quota_left(None, "en") == ("", True, "")


def test_quota_left_is_hidden_without_a_budget(make_app, database, amy):
    from callbacks.quota import show_quota_left

    server = quota_app(make_app, database[0], user_daily_tokens=None)
    with server.test_request_context("/_dash-update-component", method="POST"):
        g.user = amy
        assert show_quota_left(None, "en") == ("", True, "")
        g.user = amy.model_copy(update={"daily_tokens": 500})
        assert show_quota_left(None, "en")[:2] == ("500 of 500 tokens left today", False)
