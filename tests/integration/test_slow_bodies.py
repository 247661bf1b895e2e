"""Slow request bodies against gunicorn with the shipped config (buffered_worker.py).

Raw sockets play the attacker: 200 connections from one address send their headers and then
trickle, or never send, the body. Gunicorn's threads must stay free for everyone else.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time

import httpx2 as httpx
import pytest

from tests.conftest import TEST_KEY
from tests.e2e.conftest import AppProcess
from tests.fake_upstream import Reply

PASSWORD = "slow-body-test-password"
QUESTION = {"messages": [{"role": "user", "content": "hello"}]}
SLOW_CONNECTIONS = 200


def _env(upstream, **more: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": TEST_KEY,
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_MAX_RETRIES": "0",
        "OPENAI_TIMEOUT": "10",
        **more,
    }


@pytest.fixture
def start(upstream):
    started: list[AppProcess] = []

    def run(**env: str) -> AppProcess:
        app = AppProcess(_env(upstream, **env))
        started.append(app)
        return app

    yield run
    for app in started:
        app.stop()


def _connect(app: AppProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", app.port), timeout=10)


def _slow_post(
    app: AppProcess, path: str, *, length: int = 2000, sent: bytes = b""
) -> socket.socket:
    """Headers of a POST promising `length` bytes, then only `sent` of them."""
    sock = _connect(app)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def _answer(sock: socket.socket, wait: float = 20.0) -> bytes:
    """Everything the server sends until it closes (or `wait` runs out)."""
    sock.settimeout(wait)
    data = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _still_open(sock: socket.socket) -> bool:
    """True when the server has neither answered nor closed this connection."""
    sock.setblocking(False)
    try:
        sock.recv(1)  # an answer, or b"" for a close: either way not held open
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def test_slow_logins_leave_health_and_a_signed_in_chat_answering(start, fake):
    # A long read deadline, so the slow connections are certainly still open while we check.
    app = start(ACCESS_PASSWORD=PASSWORD, REQUEST_READ_TIMEOUT="120")
    fake.script(Reply("still here"))
    signed_in = httpx.Client(base_url=app.url, timeout=15)
    assert signed_in.post("/login", json={"password": PASSWORD}).status_code == 200
    slow = [
        _slow_post(app, "/login", sent=b'{"password": "' if i % 2 else b"")
        for i in range(SLOW_CONNECTIONS)
    ]
    try:
        for sock in slow[::2]:  # half of them trickle on
            sock.sendall(b"x")
        health = httpx.get(app.url + "/healthz", timeout=15)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        answer = signed_in.post("/api/chat", json=QUESTION)
        assert answer.status_code == 200
        assert answer.json()["reply"] == "still here"
        assert all(_still_open(sock) for sock in slow)  # they were held, by no thread
    finally:
        for sock in slow:
            sock.close()


def test_slow_chat_bodies_on_an_open_app_leave_chat_answering(start, fake):
    app = start(REQUEST_READ_TIMEOUT="120")
    fake.script(Reply("answered"))
    slow = [_slow_post(app, "/api/chat", sent=b'{"messages": [') for _ in range(SLOW_CONNECTIONS)]
    try:
        answer = httpx.post(app.url + "/api/chat", json=QUESTION, timeout=15)
        assert answer.status_code == 200
        assert answer.json()["reply"] == "answered"
        assert httpx.get(app.url + "/healthz", timeout=15).status_code == 200
    finally:
        for sock in slow:
            sock.close()


def test_an_idle_or_trickling_body_is_dropped_with_408(start):
    app = start(REQUEST_READ_TIMEOUT="2")
    idle = _slow_post(app, "/api/chat", sent=b'{"mess')
    trickling = _slow_post(app, "/api/chat")
    deadline = time.monotonic() + 20
    trickling.settimeout(0.5)
    answer = b""
    while time.monotonic() < deadline and not answer:
        try:
            trickling.sendall(b" ")
            answer = trickling.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
    assert _status(answer) == 408
    assert _status(_answer(idle)) == 408
    assert "408 Request Timeout" in app.log()


def test_a_body_over_the_cap_is_refused_unread(start):
    app = start(MAX_REQUEST_BYTES="5000")
    sock = _slow_post(app, "/api/chat", length=5001)
    answer = _answer(sock)
    assert _status(answer) == 413
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["message"]


def test_complete_requests_still_work_every_way(start, fake):
    """Expect: 100-continue, a body sent in pieces, pipelined requests, a chunked refusal."""
    app = start()
    body = json.dumps(QUESTION).encode()
    fake.script(Reply("one"), Reply("two"))

    sock = _connect(app)
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    for i in range(0, len(body), 7):  # in pieces, as a slow network delivers it
        sock.sendall(body[i : i + 7])
    answer = _answer(sock)
    assert _status(answer) == 200
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["reply"] == "one"

    sock = _connect(app)
    post = (
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    sock.sendall(post + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = _answer(sock)
    assert answer.count(b"HTTP/1.1 200 ") == 2
    assert b'"two"' in answer and b'"ok"' in answer

    sock = _connect(app)
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    )
    assert _status(_answer(sock)) == 411
