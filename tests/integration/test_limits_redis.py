"""Limits shared through a real Redis server (RATELIMIT_STORAGE_URI): a client over its budget
is refused by every worker and every instance, not just the one that counted it."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from tests.e2e.conftest import AppProcess
from tests.fake_upstream import Reply
from tests.redis_server import flush, redis_server

QUESTION = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def redis_url():
    yield from redis_server()


@pytest.fixture
def shared(redis_url):
    flush(redis_url)
    return redis_url


def test_two_apps_share_one_budget(make_app, shared, fake):
    first = make_app(max_request_per_hour=2, ratelimit_storage_uri=shared).server.test_client()
    second = make_app(max_request_per_hour=2, ratelimit_storage_uri=shared).server.test_client()
    assert first.post("/api/chat", json=QUESTION).status_code == 200
    assert second.post("/api/chat", json=QUESTION).status_code == 200
    for client in (first, second):
        refused = client.post("/api/chat", json=QUESTION)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 3500
    assert len(fake.requests) == 2


def test_open_streams_are_counted_across_apps(make_app, shared, fake):
    first = make_app(max_concurrent_streams=1, ratelimit_storage_uri=shared).server.test_client()
    second = make_app(max_concurrent_streams=1, ratelimit_storage_uri=shared).server.test_client()
    fake.script(Reply("slow", delay=0.1))
    held = first.post("/api/chat/stream", json=QUESTION, buffered=False)
    assert held.status_code == 200
    assert second.post("/api/chat/stream", json=QUESTION).status_code == 429
    held.get_data()
    held.close()  # the response is done: the slot is given back
    assert second.post("/api/chat/stream", json=QUESTION).status_code == 200


@pytest.fixture
def gunicorn_pair(shared, upstream, request):
    """Two `gunicorn chat_app:server` instances with 2 workers each, sharing (or not) Redis."""
    storage = shared if request.param == "redis" else "memory://"
    env = {
        "OPENAI_API_KEY": upstream.api_key,
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_MAX_RETRIES": "0",
        "MAX_REQUEST_PER_HOUR": "3",
        "RATELIMIT_STORAGE_URI": storage,
        "WEB_CONCURRENCY": "2",
    }
    apps = [AppProcess(env), AppProcess(env)]
    yield apps
    for app in apps:
        app.stop()


@pytest.mark.parametrize("gunicorn_pair", ["redis"], indirect=True)
def test_gunicorn_workers_and_instances_refuse_together(gunicorn_pair, fake):
    first, second = gunicorn_pair
    url = "/api/chat"
    statuses = []
    # New connections each time, so requests spread over both workers of each instance.
    for app in (first, second, first):
        statuses.append(httpx.post(app.url + url, json=QUESTION, timeout=10).status_code)
    assert statuses == [200, 200, 200]
    for app in (first, second, first, second):
        refused = httpx.post(app.url + url, json=QUESTION, timeout=10)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 3500
        assert refused.json()["error"]["type"] == "too_many_requests"
    assert len(fake.requests) == 3


@pytest.mark.parametrize("gunicorn_pair", ["memory"], indirect=True)
def test_memory_counters_are_per_process(gunicorn_pair, fake):
    """Why RATELIMIT_STORAGE_URI exists: in memory, each process counts only what it saw."""
    first, second = gunicorn_pair
    for _ in range(3):
        assert httpx.post(first.url + "/api/chat", json=QUESTION, timeout=10).status_code == 200
    assert httpx.post(second.url + "/api/chat", json=QUESTION, timeout=10).status_code == 200
