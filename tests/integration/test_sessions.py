"""Sign-in sessions live on the server: logout ends them for every copy of the cookie, and
they end after SESSION_IDLE_MINUTES unused (the store's clock is moved, nobody sleeps)."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from tests.conftest import LiveServer
from tests.e2e.conftest import AppProcess

PASSWORD = "staff-room-pass"
PROTECTED = "/api/openapi.json"  # needs a session, asks no model


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


def sign_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    assert client.post("/login", json={"password": PASSWORD}).status_code == 200
    return client


def with_cookies(url: str, cookies: dict[str, str]) -> httpx.Client:
    """Another client (an attacker's, say) holding a copy of the cookies."""
    return httpx.Client(base_url=url, timeout=30, cookies=cookies)


@pytest.mark.parametrize("records", ["true", "false"])
def test_a_cookie_copied_before_logout_is_refused_after_it(upstream, records):
    """Under gunicorn with two workers (the copy may reach either), records on and off."""
    app = AppProcess(
        {
            "OPENAI_API_KEY": upstream.api_key,
            "OPENAI_BASE_URL": upstream.base_url,
            "ACCESS_PASSWORD": PASSWORD,
            "RECORDS_ENABLED": records,
            "WEB_CONCURRENCY": "2",
        }
    )
    try:
        browser = sign_in(app.url)
        stolen = {cookie.name: cookie.value for cookie in browser.cookies.jar}
        assert "chat_session" in stolen
        assert with_cookies(app.url, stolen).get(PROTECTED).status_code == 200
        assert browser.post("/logout").status_code == 303
        for _ in range(6):  # several requests, several connections: both workers answer
            refused = with_cookies(app.url, stolen).get(PROTECTED)
            assert refused.status_code == 401
            assert refused.json()["error"]["type"] == "unauthorized"
        page = with_cookies(app.url, stolen).get("/", headers={"Accept": "text/html"})
        assert page.status_code == 401 and "login-password" in page.text
        # Signing in again gives a new, working session.
        assert sign_in(app.url).get(PROTECTED).status_code == 200
    finally:
        app.stop()


@pytest.fixture
def idle_app(make_app):
    """The app behind a password with a 30-minute idle limit, on a real HTTP server, and the
    clock its session store reads."""
    app = make_app(access_password=PASSWORD, session_idle_minutes=30)
    clock = Clock()
    app.server.extensions["chat_sessions"].clock = clock
    with LiveServer(app.server) as server:
        yield server, clock


def test_a_session_ends_after_the_idle_time_and_use_keeps_it(idle_app):
    server, clock = idle_app
    client = sign_in(server.url)
    for _ in range(4):  # used every 20 minutes for 80 minutes: still signed in
        clock.advance(20)
        assert client.get(PROTECTED).status_code == 200
    clock.advance(31)
    assert client.get(PROTECTED).status_code == 401
    clock.advance(-31)  # not even a clock going back revives it: the row is gone
    assert client.get(PROTECTED).status_code == 401


def test_a_session_ends_thirty_days_after_sign_in_however_used(idle_app):
    server, clock = idle_app
    client = sign_in(server.url)
    for _ in range(30 * 24 * 3):  # every 20 minutes for 30 days
        clock.advance(20)
    assert client.get(PROTECTED).status_code == 401
