"""Cross-site refusal, security headers, and errors that leak nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

QUESTION = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def app_client(make_app):
    return make_app(gateway_api_keys="gw-key").server.test_client()


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another app
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # sandboxed frames, data: URLs
        {"Origin": "http://localhost:9999"},  # same host name, another port
    ],
)
def test_cross_site_posts_are_refused(app_client, fake, headers):
    for path in ("/api/chat", "/api/chat/stream", "/_dash-update-component", "/login"):
        response = app_client.post(path, json=QUESTION, headers=headers)
        assert response.status_code == 403, path
        assert response.get_json()["error"]["type"] == "cross_site"
    assert fake.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "http://localhost"},  # the test client's own host
        {},  # curl, SDKs: not a browser, nothing to forge
    ],
)
def test_same_origin_and_non_browser_posts_pass(app_client, headers):
    assert app_client.post("/api/chat", json=QUESTION, headers=headers).status_code == 200


def test_the_gateway_is_exempt_because_it_uses_bearer_tokens(app_client):
    response = app_client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", **QUESTION},
        headers={"Authorization": "Bearer gw-key", "Origin": "https://a-web-client.example"},
    )
    assert response.status_code == 200


def test_security_headers_on_every_response(app_client, make_app):
    for response in (
        app_client.get("/healthz"),
        app_client.post("/api/chat", json=QUESTION),
        app_client.get("/assets/chat.js"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    locked = make_app(access_password="pw").server.test_client()
    for response in (app_client.get("/"), locked.get("/", headers={"Accept": "text/html"})):
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        csp = headers["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'self'"
        # Scripts: our own files and Dash's inline scripts by hash; never any inline script.
        assert "'unsafe-inline'" not in directives["script-src"]
        assert "'unsafe-eval'" not in directives["script-src"]
        assert "'sha256-" in directives["script-src"]
        assert "http" not in directives["img-src"]  # a model's Markdown loads no remote image


def test_frame_ancestors_lets_teams_embed_the_page(make_app):
    teams = "'self' https://teams.microsoft.com https://*.teams.microsoft.com"
    client = make_app(frame_ancestors=teams).server.test_client()
    response = client.get("/")
    assert f"frame-ancestors {teams}" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    # In a third-party frame, cookies only come back with SameSite=None; Secure.
    cookie = response.headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie


def test_no_versions_or_tracebacks_leak(make_app, monkeypatch):
    server = make_app().server
    client = server.test_client()

    def broken():
        raise RuntimeError("secret internals: /srv/app/services/chat.py line 42")

    monkeypatch.setitem(server.view_functions, "chat_api.providers_check", broken)
    for response in (
        client.get("/api/providers/check"),
        client.get("/no/such/page"),
        client.get("/api/no-such-route"),
    ):
        body = response.get_data(as_text=True)
        assert "Traceback" not in body and "secret internals" not in body
        assert "Werkzeug" not in body and "Python/" not in body
        assert "Server" not in response.headers or "/" not in response.headers["Server"]
    failed = client.get("/api/providers/check")
    assert failed.status_code == 500
    assert failed.get_json()["error"]["type"] == "internal_error"


def test_dev_server_does_not_announce_versions(fake):
    """`python chat_app.py` (werkzeug) would otherwise send "Werkzeug/3.x Python/3.x"."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CHAT_ENV_FILE": "", "PORT": str(port), "OPENAI_API_KEY": "sk-x"}
    process = subprocess.Popen(
        [sys.executable, "chat_app.py"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
                    server = response.headers.get("Server")
                    break
            except OSError:
                assert time.monotonic() < deadline, "python chat_app.py did not start"
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(10)
    assert server == "chat"


def test_api_paths_never_answer_with_the_page(app_client):
    # Dash serves its page for any unknown path; an API typo must not get 200 and HTML.
    wrong_method = app_client.get("/api/chat")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "OPTIONS, POST"
    assert wrong_method.get_json()["error"]["type"] == "method_not_allowed"
    deleted = app_client.delete("/api/chat/stream")
    assert deleted.status_code == 405 and "GET" not in deleted.headers["Allow"]
    missing = app_client.get("/api/chats")
    assert missing.status_code == 404 and missing.is_json


def test_options_lists_exactly_the_api_methods(app_client):
    assert app_client.options("/api/chat").headers["Allow"] == "OPTIONS, POST"


def test_the_blocked_link_page_shows_the_link_as_text(app_client):
    response = app_client.get("/blocked-link?to=javascript:alert('<b>x</b>')")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "not a web address" in body
    assert "<b>x</b>" not in body and "&lt;b&gt;x&lt;/b&gt;" in body
    # In the visitor's language, as the login page.
    chinese = app_client.get(
        "/blocked-link?to=javascript:x", headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    ).get_data(as_text=True)
    assert "不是网页地址" in chinese and "lang='zh-CN'" in chinese


def test_a_new_worker_serves_concurrent_first_requests(upstream):
    """Dash used to set itself up on a process's first request and answer 500 to requests that
    came meanwhile: a browser's parallel script requests to a fresh gunicorn worker."""
    import re
    from concurrent.futures import ThreadPoolExecutor

    import dash

    version = dash.__version__.replace(".", "_")
    paths = [
        f"/_dash-component-suites/dash/deps/react@18.v{version}m1.3.1.min.js",
        f"/_dash-component-suites/dash/html/dash_html_components.v{version}m1.min.js",
        f"/_dash-component-suites/dash/dash-renderer/build/dash_renderer.v{version}m1.min.js",
        "/_dash-dependencies",
        "/_dash-layout",
    ] * 6
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CHAT_ENV_FILE": "", "PORT": str(port), "OPENAI_API_KEY": "sk-x"}
    env |= {"OPENAI_BASE_URL": upstream.base_url, "WEB_CONCURRENCY": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "chat_app:server", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def fetch(path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as reply:
                return reply.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError as error:
            return repr(error)

    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the port without sending a request
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.05)
        # The worker's very first requests arrive together, as a browser's script tags do.
        with ThreadPoolExecutor(len(paths)) as pool:
            statuses = list(pool.map(fetch, paths))
        assert statuses == [200] * len(paths), statuses
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            assert re.search(r"_dash-component-suites", response.read().decode())
    finally:
        process.terminate()
        process.wait(10)
