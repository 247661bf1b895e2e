"""Abuse limits with the default in-memory counters: per-IP hourly budget, wrong passwords,
open streams per client, and which address counts as the client."""

from __future__ import annotations

import json
import threading
import time

import httpx2 as httpx
import pytest

from tests.fake_upstream import Reply

QUESTION = {"messages": [{"role": "user", "content": "hello"}]}
GATEWAY_QUESTION = {"model": "gpt-4o-mini", **QUESTION}


def test_the_hourly_budget_is_shared_by_every_chat_route(make_app, fake):
    client = make_app(max_request_per_hour=3, gateway_api_keys="gw").server.test_client()
    assert client.post("/api/chat", json=QUESTION).status_code == 200
    assert client.post("/api/chat/stream", json=QUESTION).status_code == 200
    bearer = {"Authorization": "Bearer gw"}
    assert (
        client.post("/v1/chat/completions", json=GATEWAY_QUESTION, headers=bearer).status_code
        == 200
    )

    refused = client.post("/api/chat", json=QUESTION)
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 3500 < wait <= 3600  # a moving hour: the first request leaves it in about an hour
    error = refused.get_json()["error"]
    assert error["type"] == "too_many_requests"
    assert error["retry_after"] == wait
    assert "3 chat requests per hour" in error["message"] and "minutes" in error["message"]
    assert (
        client.post("/v1/chat/completions", json=GATEWAY_QUESTION, headers=bearer).status_code
        == 429
    )
    assert len(fake.requests) == 3  # nothing over the limit reached the model (or cost money)


def test_the_page_stream_gets_the_refusal_as_an_sse_event(make_app):
    client = make_app(max_request_per_hour=1).server.test_client()
    sse = {"Accept": "text/event-stream"}
    assert client.post("/api/chat/stream", json=QUESTION, headers=sse).status_code == 200
    refused = client.post("/api/chat/stream", json=QUESTION, headers=sse)
    # Still a real 429 with Retry-After; the body is what fetch-event-source can hand the page.
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3500
    assert refused.mimetype == "text/event-stream"
    event = json.loads(refused.get_data(as_text=True).removeprefix("data: "))
    assert event["error"]["type"] == "too_many_requests"
    assert event["error"]["retry_after"] > 3500


def test_other_routes_and_health_checks_are_not_counted(make_app):
    client = make_app(max_request_per_hour=1).server.test_client()
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        assert client.get("/_dash-layout").status_code == 200
    # Refused requests (a 400) still count: a script cannot probe for free.
    assert client.post("/api/chat", json={"messages": []}).status_code == 400
    assert client.post("/api/chat", json=QUESTION).status_code == 429


def test_unlimited_when_unset(make_app):
    client = make_app().server.test_client()
    for _ in range(30):
        assert client.post("/api/chat", json=QUESTION).status_code == 200


def test_each_ip_has_its_own_budget_behind_a_trusted_proxy(make_app):
    client = make_app(max_request_per_hour=1, trusted_proxies=1).server.test_client()

    def ask(ip: str) -> int:
        headers = {"X-Forwarded-For": ip}
        return client.post("/api/chat", json=QUESTION, headers=headers).status_code

    assert ask("203.0.113.7") == 200
    assert ask("203.0.113.7") == 429
    assert ask("198.51.100.1") == 200
    # A client cannot pick its address: the proxy appends the real one, and only that counts.
    assert ask("198.51.100.99, 203.0.113.7") == 429


def test_forwarded_for_is_ignored_without_trusted_proxies(make_app):
    client = make_app(max_request_per_hour=1).server.test_client()
    assert (
        client.post("/api/chat", json=QUESTION, headers={"X-Forwarded-For": "1.1.1.1"}).status_code
        == 200
    )
    # A forged header does not buy a fresh budget.
    assert (
        client.post("/api/chat", json=QUESTION, headers={"X-Forwarded-For": "2.2.2.2"}).status_code
        == 429
    )


def test_wrong_passwords_are_slowed_per_ip(make_app):
    client = make_app(access_password="right").server.test_client()
    for _ in range(10):
        assert client.post("/login", data={"password": "wrong"}).status_code == 401
    refused = client.post("/login", data={"password": "wrong"})
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 60
    assert "Too many wrong passwords" in refused.get_data(as_text=True)
    assert 'id="login-form"' in refused.get_data(as_text=True)  # the form stays usable


def test_right_passwords_are_not_counted(make_app):
    client = make_app(access_password="right").server.test_client()
    for _ in range(15):
        assert client.post("/login", data={"password": "right"}).status_code == 303


def eventually_accepted(http, url: str, within: float = 3.0) -> bool:
    """Whether a stream request is accepted (200) within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        status = http.post(url, json=QUESTION).status_code
        if status != 429 or time.monotonic() > deadline:
            return status == 200
        time.sleep(0.05)


@pytest.fixture
def slow_reply(fake):
    """Every stream takes about 1.5 s."""
    fake.script(*[Reply("one two three", chunk_size=4, delay=0.5) for _ in range(3)])


def test_open_streams_per_client_are_capped(live_server, fake, slow_reply):
    with live_server(max_concurrent_streams=1) as server, httpx.Client(timeout=10) as http:
        url = f"{server.url}/api/chat/stream"
        with http.stream("POST", url, json=QUESTION) as first:
            assert first.status_code == 200
            second = http.post(url, json=QUESTION)
            assert second.status_code == 429
            assert second.headers["Retry-After"] == "2"
            assert second.json()["error"]["type"] == "too_many_streams"
            first.read()
        # The first stream ended: its slot is free again (given back once the server has
        # finished with the response, a moment after the client read its last byte).
        assert eventually_accepted(http, url)


def test_a_stream_abandoned_by_its_client_frees_its_slot(live_server, fake, slow_reply):
    with live_server(max_concurrent_streams=1) as server, httpx.Client(timeout=10) as http:
        url = f"{server.url}/api/chat/stream"
        with http.stream("POST", url, json=QUESTION) as first:
            next(first.iter_bytes())
        # The client left mid-reply; the server notices and gives the slot back.
        assert eventually_accepted(http, url)


def test_concurrent_streams_over_the_cap_are_refused_not_queued(live_server, fake):
    fake.script(*[Reply("slow reply", chunk_size=2, delay=0.2) for _ in range(6)])
    statuses: list[int] = []
    with live_server(max_concurrent_streams=2) as server:

        def ask() -> None:
            with httpx.Client(timeout=10) as http:
                response = http.post(f"{server.url}/api/chat/stream", json=QUESTION)
                statuses.append(response.status_code)

        threads = [threading.Thread(target=ask) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses.count(200) >= 2 and statuses.count(429) >= 1
    assert set(statuses) <= {200, 429}


def test_gateway_streams_share_the_cap_with_the_page(live_server, fake, slow_reply):
    app = live_server(max_concurrent_streams=1, gateway_api_keys="gw")
    with app as server, httpx.Client(timeout=10) as http:
        gateway = {"Authorization": "Bearer gw"}
        body = {"model": "gpt-4o-mini", "stream": True, **QUESTION}
        with http.stream("POST", f"{server.url}/api/chat/stream", json=QUESTION) as first:
            assert first.status_code == 200
            refused = http.post(f"{server.url}/v1/chat/completions", json=body, headers=gateway)
            assert refused.status_code == 429
            assert refused.json()["error"]["type"] == "too_many_streams"
            # A whole (non-streamed) answer is not a stream: it is not capped.
            whole = http.post(
                f"{server.url}/v1/chat/completions",
                json={**body, "stream": False},
                headers=gateway,
            )
            assert whole.status_code == 200
            first.read()
        assert eventually_accepted(http, f"{server.url}/api/chat/stream")
    assert len(fake.requests) == 3


CHECK_CALLBACK = {
    "output": "settings-check-result.children",
    "outputs": {"id": "settings-check-result", "property": "children"},
    "inputs": [{"id": "settings-check-button", "property": "nClicks", "value": 1}],
    "state": [{"id": "app-lang-store", "property": "data", "value": "en"}],
    "changedPropIds": ["settings-check-button.nClicks"],
}


def test_the_connection_check_counts_in_the_same_hourly_budget(upstream, fake):
    """The check asks the upstream with the server's key, so it spends the chat budget: the
    route and the ⚙ callback alike, against the app under gunicorn."""
    from tests.conftest import TEST_KEY
    from tests.e2e.conftest import AppProcess

    env = {
        "OPENAI_API_KEY": TEST_KEY,
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_MAX_RETRIES": "0",
        "MAX_REQUEST_PER_HOUR": "3",
    }
    app = AppProcess(env)
    try:
        with httpx.Client(base_url=app.url, timeout=30) as web:
            assert web.get("/api/providers/check").json()["providers"][0]["ok"] is True
            checked = web.post("/_dash-update-component", json=CHECK_CALLBACK)
            assert checked.status_code == 200 and "Connected" in checked.text
            assert web.post("/api/chat", json=QUESTION).status_code == 200
            # Two checks and one chat: the budget of three is spent, for chat and check alike.
            assert web.post("/api/chat", json=QUESTION).status_code == 429
            refused = web.get("/api/providers/check")
            assert refused.status_code == 429
            assert 3500 < int(refused.headers["Retry-After"]) <= 3600
            assert refused.json()["error"]["type"] == "too_many_requests"
            page = web.post("/_dash-update-component", json=CHECK_CALLBACK)
            assert page.status_code == 200
            assert "settings-check-limited" in page.text and "minutes" in page.text
    finally:
        app.stop()
    assert len(fake.requests) == 3  # nothing over the budget reached the model


def test_a_check_of_several_providers_costs_one_request_each(make_app, fake, tmp_path):
    path = tmp_path / "providers.yaml"
    path.write_text(
        f"""\
providers:
  - id: one
    kind: compatible
    base_url: {fake.base_url}
    api_key_env: OPENAI_API_KEY
    models: [{{id: m1}}]
  - id: two
    kind: compatible
    base_url: {fake.base_url}
    api_key_env: OPENAI_API_KEY
    models: [{{id: m2}}]
""",
        encoding="utf-8",
    )
    client = make_app(providers_file=str(path), max_request_per_hour=3).server.test_client()
    assert client.get("/api/providers/check").status_code == 200
    assert client.get("/api/providers/check").status_code == 429  # 2 spent, 2 more asked
    assert client.post("/api/chat", json=QUESTION).status_code == 200  # the third
    assert len(fake.requests) == 3
