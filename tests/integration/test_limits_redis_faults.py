"""Redis trouble under gunicorn: a killed or frozen Redis leaves every limit in force, counted
per process with the same numbers, says so in the log once, and never makes a chat wait long."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from tests.conftest import TEST_KEY
from tests.e2e.conftest import AppProcess
from tests.fake_upstream import Reply
from tests.redis_server import RedisProcess

QUESTION = {"messages": [{"role": "user", "content": "hello"}]}
PER_HOUR = 4
LOUD_LINE = "limits now count in this process only, with the same numbers"
# Far below the 5 s a frozen Redis cost each call before (two calls per chat): a chat that
# waits for Redis fails with a timeout here.
CHAT_WAIT = 4.0


@pytest.fixture
def redis_proc():
    server = RedisProcess()
    yield server
    server.stop()


@pytest.fixture
def app(redis_proc, upstream):
    process = AppProcess(
        {
            "OPENAI_API_KEY": TEST_KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_MAX_RETRIES": "0",
            "RATELIMIT_STORAGE_URI": redis_proc.url,
            "MAX_REQUEST_PER_HOUR": str(PER_HOUR),
            "MAX_CONCURRENT_STREAMS": "1",
        }
    )
    yield process
    process.stop()


def _held_stream(client: httpx.Client):
    """A stream that stays open (the model stalls) once its slot is taken."""
    return client.stream("POST", "/api/chat/stream", json=QUESTION, timeout=CHAT_WAIT)


def _limits_hold(app: AppProcess, fake) -> None:
    """One stream at a time, and at most PER_HOUR chats an hour: the numbers, not "allow all"."""
    fake.script(Reply("slow reply", stall=60, stall_after=1), *[Reply("ok") for _ in range(10)])
    client = httpx.Client(base_url=app.url)
    with _held_stream(client) as held:
        assert held.status_code == 200
        second = client.post("/api/chat/stream", json=QUESTION, timeout=CHAT_WAIT)
        assert second.status_code == 429
        assert second.json()["error"]["type"] == "too_many_streams"
    statuses = []
    for _ in range(PER_HOUR + 3):
        answer = client.post("/api/chat", json=QUESTION, timeout=CHAT_WAIT)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert answer.json()["error"]["type"] == "too_many_requests"
            assert int(answer.headers["Retry-After"]) > 3000
            break
    assert statuses[-1] == 429, statuses
    # The held stream, the refused one and the chats: never more than the hour allows.
    assert 1 + statuses.count(200) <= PER_HOUR
    assert len(fake.requests) <= PER_HOUR


def _logged_once_without_tracebacks(app: AppProcess) -> None:
    log = app.log()
    assert log.count(LOUD_LINE) == 1, log[-3000:]
    assert "Traceback" not in log


def test_killed_redis_keeps_the_limits_per_process(app, redis_proc, fake):
    fake.script(Reply("before"))
    assert httpx.post(app.url + "/api/chat", json=QUESTION, timeout=10).status_code == 200
    redis_proc.kill()
    fake.reset()
    _limits_hold(app, fake)
    _logged_once_without_tracebacks(app)


def test_frozen_redis_keeps_the_limits_and_chats_do_not_wait(app, redis_proc, fake):
    redis_proc.freeze()
    _limits_hold(app, fake)  # every request there fails if it waits CHAT_WAIT
    assert httpx.get(app.url + "/healthz", timeout=CHAT_WAIT).status_code == 200
    _logged_once_without_tracebacks(app)
