"""Streamed replies under faults: retries before the first token, never after it; timeouts; and
a client that leaves while the model is silent, over real HTTP servers (werkzeug and gunicorn).

The upstream is `tests.fake_upstream.FakeUpstream`, reached through the real `openai` SDK.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from api import sse
from api.identity import COOKIE
from config import Settings
from services import retry
from services.cancel import Cancel, cancel_scope
from services.chat import ChatService
from services.llm_client import CancellableBackend, http_client
from tests.conftest import TEST_KEY, LiveServer, settings_for
from tests.fake_upstream import Cut, Error, FakeUpstream, Hang, Reply, StreamError

QUESTION = "Will this survive a fault?"
USER = [{"role": "user", "content": QUESTION}]
GATEWAY_KEY = "gw-test-token-0001"
SERVER_ERROR = Error(503, "The engine is currently overloaded", "server_error")
# Longer than any test waits: if the app did not hang up, the fake would still be waiting.
SILENCE = 30.0
# A client that leaves must see the upstream connection closed within this (the issue: 1 s).
MAX_HANG_UP = 1.5


def parse(body: str) -> list[dict]:
    """The data events of an SSE body (keep-alive comments skipped)."""
    events = []
    for block in body.split("\n\n"):
        if block.startswith("data: "):
            events.append(json.loads(block[len("data: ") :]))
        else:
            assert block == "" or block.startswith(":"), f"not an SSE event: {block!r}"
    return events


def stream(client, **extra) -> tuple[str, dict, str]:
    """POST /api/chat/stream: (the text, the final event, the raw body)."""
    response = client.post("/api/chat/stream", json={"messages": USER, **extra})
    assert response.status_code == 200
    raw = response.get_data(as_text=True)
    events = parse(raw)
    *deltas, final = events
    assert all("delta" in e and "done" not in e and "error" not in e for e in deltas), events
    assert ("done" in final) != ("error" in final), final
    return "".join(event["delta"] for event in deltas), final, raw


class Clock:
    """The retry rule's clock, injected: time passes only while the app waits between
    attempts, so what is checked is the waits the app chose and when, not how fast this
    machine is. Each wait is recorded with the number of upstream requests made before it."""

    def __init__(self, fake: FakeUpstream) -> None:
        self._fake = fake
        self.now = 0.0
        self.waits: list[tuple[float, int]] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append((seconds, len(self._fake.requests)))
        self.now += seconds

    def wait(self, cancel: Cancel, seconds: float) -> bool:
        """Cancel.wait: the wait passes at once, unless the reply was cancelled."""
        self.sleep(seconds)
        return cancel.cancelled


@pytest.fixture
def clock(monkeypatch, fake) -> Clock:
    """The retry waits on a Clock, with no jitter: each wait is the longest the rule allows."""
    clock = Clock(fake)
    monkeypatch.setattr(retry, "time", clock)  # retry's `time.monotonic()`, `time.sleep()`
    # The stream's cancellable wait (a function, so that it is bound to each Cancel).
    monkeypatch.setattr(Cancel, "wait", lambda cancel, seconds: clock.wait(cancel, seconds))
    monkeypatch.setattr(retry, "random", SimpleNamespace(random=lambda: 0.0))
    return clock


# --------------------------------------------------------------------------- retries


def test_server_errors_before_the_first_token_are_retried(make_app, fake) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(SERVER_ERROR, SERVER_ERROR, Reply("Third time lucky."))

    text, final, _ = stream(client)

    assert text == "Third time lucky."  # once, not three times
    assert final["done"] is True
    assert len(fake.requests) == 3
    assert final["context"]["retried"] is False  # that flag is about context, not faults


def test_retries_stop_after_max_retries(make_app, fake) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(SERVER_ERROR, SERVER_ERROR, SERVER_ERROR, Reply("Never asked for."))

    text, final, _ = stream(client)

    assert text == ""
    assert final["error"]["type"] == "upstream_error"
    assert len(fake.requests) == 3
    assert fake.pending == 1


def test_no_retries_when_max_retries_is_zero(make_app, fake) -> None:
    client = make_app(openai_max_retries=0).server.test_client()
    fake.script(SERVER_ERROR, Reply("Never asked for."))

    _, final, _ = stream(client)

    assert final["error"]["type"] == "upstream_error"
    assert len(fake.requests) == 1


def test_a_request_the_upstream_refused_is_not_retried(make_app, fake) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(Error(400, "Invalid value for temperature"), Reply("Never asked for."))

    _, final, _ = stream(client)

    assert final["error"]["type"] == "bad_request"
    assert len(fake.requests) == 1


def test_rate_limit_retry_after_is_obeyed(make_app, fake, clock) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(
        Error(429, "Rate limit reached", "requests", "rate_limit_exceeded", {"retry-after": "1"}),
        Reply("After waiting."),
    )

    text, final, _ = stream(client)

    assert text == "After waiting."
    assert final["done"] is True
    assert len(fake.requests) == 2
    # One wait, of the second asked (not the backoff's 0.5 s), after the 429, before the retry.
    assert clock.waits == [(1.0, 1)]


@pytest.mark.parametrize("header", [{"retry-after": "60"}, {"retry-after-ms": "30000"}])
def test_a_long_retry_after_is_reported_at_once(make_app, fake, clock, header) -> None:
    """The SDK would sleep as long as asked (up to two minutes); the user is told at once."""
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(
        Error(429, "Rate limit reached", "requests", "rate_limit_exceeded", header),
        Reply("Never asked for."),
    )

    text, final, _ = stream(client)

    assert text == ""
    assert final["error"]["type"] == "rate_limited"
    assert final["error"]["retry_after"] in (30, 60)  # the wait, so the page can name it
    assert len(fake.requests) == 1  # nor did the SDK retry (the Reply is still scripted)
    assert fake.pending == 1
    assert clock.waits == []  # no wait at all: at once


def test_waits_are_capped_whatever_the_attempt(make_app, fake, clock, monkeypatch) -> None:
    """Exponential backoff never waits longer than RETRY_MAX_DELAY for one retry."""
    monkeypatch.setattr(retry, "RETRY_FIRST_DELAY", 0.2)
    monkeypatch.setattr(retry, "RETRY_MAX_DELAY", 0.3)
    client = make_app(openai_max_retries=5).server.test_client()
    fake.script(*[SERVER_ERROR] * 5, Reply("Sixth attempt."))

    text, _, _ = stream(client)

    assert text == "Sixth attempt."
    assert len(fake.requests) == 6
    # One wait after each failure, doubling from 0.2 s and capped at 0.3 s (uncapped they
    # would be 0.2, 0.4, 0.8, 1.6, 3.2 s); no jitter, so each is the longest allowed.
    assert clock.waits == [(0.2, 1), (0.3, 2), (0.3, 3), (0.3, 4), (0.3, 5)]


def test_retries_end_within_the_retry_window(make_app, fake, clock, monkeypatch) -> None:
    monkeypatch.setattr(retry, "RETRY_WINDOW", 0.8)
    client = make_app(openai_max_retries=10).server.test_client()
    fake.script(*[SERVER_ERROR] * 11)

    _, final, _ = stream(client)

    assert final["error"]["type"] == "upstream_error"
    # The first wait (0.5 s) fits in the window; the next (1 s) would end past it, so the
    # error is reported instead, with 9 retries of the 10 allowed unused.
    assert clock.waits == [(0.5, 1)]
    assert len(fake.requests) == 2
    assert fake.pending == 9


def test_stream_cut_before_any_text_is_retried(make_app, fake) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    # HTTP 200 and the role chunk arrive, then the connection drops before any text.
    fake.script(Cut(""), Reply("The whole reply."))

    text, final, _ = stream(client)

    assert text == "The whole reply."
    assert final["done"] is True
    assert len(fake.requests) == 2


def test_error_event_before_any_text_is_retried(make_app, fake) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(StreamError("The server had an error"), Reply("The whole reply."))

    text, final, _ = stream(client)

    assert text == "The whole reply."
    assert final["done"] is True
    assert len(fake.requests) == 2


def test_cut_after_the_first_text_is_reported_not_retried(make_app, fake) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(Cut("The first half of"), Reply("A second, different reply."))

    text, final, _ = stream(client, snapshots=True)

    assert text == "The first half of"
    assert final["error"]["type"] == "stream_cut"
    assert final["content"] == "The first half of"  # the partial text is kept
    assert len(fake.requests) == 1
    assert fake.pending == 1


def test_error_event_after_the_first_text_is_reported_not_retried(make_app, fake) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    fake.script(StreamError("Overloaded", text="Some text"), Reply("A second reply."))

    text, final, _ = stream(client)

    assert text == "Some text"
    assert final["error"]["type"] == "stream_cut"
    assert len(fake.requests) == 1


def test_context_retry_still_works_with_fault_retries(make_app, fake) -> None:
    client = make_app(openai_max_retries=2).server.test_client()
    too_long = Error(
        400, "maximum context length", "invalid_request_error", "context_length_exceeded"
    )
    history = []
    for i in range(4):
        history += [
            {"role": "user", "content": f"question {i}"},
            {"role": "assistant", "content": f"answer {i}"},
        ]
    fake.script(too_long, Cut(""), Reply("Fitted."))

    response = client.post("/api/chat/stream", json={"messages": [*history, *USER]})
    *deltas, final = parse(response.get_data(as_text=True))

    assert "".join(e["delta"] for e in deltas) == "Fitted."
    assert final["context"]["retried"] is True
    assert final["context"]["dropped_rounds"] > 0
    assert len(fake.requests) == 3
    # The retry after the cut sent the shortened conversation again, not the full one.
    assert fake.requests[2].body["messages"] == fake.requests[1].body["messages"]


# --------------------------------------------------------------------------- timeouts


def test_a_hang_longer_than_timeout_ms_is_a_timeout_not_an_endless_retry(
    make_app, fake, clock
) -> None:
    client = make_app(timeout_ms=400, openai_max_retries=2).server.test_client()
    fake.script(*[Hang(SILENCE)] * 5)

    text, final, _ = stream(client)

    assert text == ""
    assert final["error"]["type"] == "timeout"
    assert final["error"]["message"] == "The model did not answer in time."
    assert len(fake.requests) == 3  # the first attempt and two retries, no more
    assert fake.pending == 2
    # The backoff between the attempts, each after a timed-out one, and nothing else waited.
    assert clock.waits == [(0.5, 1), (1.0, 2)]
    for request in fake.requests:
        # Each attempt was given up by the app (its timeout), not answered after the silence.
        assert request.client_disconnected.wait(5)
        assert not request.finished.is_set()


def test_a_hang_without_retries_times_out_once(make_app, fake, clock) -> None:
    client = make_app(timeout_ms=300, openai_max_retries=0).server.test_client()
    fake.script(Hang(SILENCE), Hang(SILENCE))

    _, final, _ = stream(client)

    assert final["error"]["type"] == "timeout"
    assert len(fake.requests) == 1
    assert fake.pending == 1
    assert clock.waits == []
    (request,) = fake.requests
    # Given up by the app's timeout, not answered after the silence.
    assert request.client_disconnected.wait(5)
    assert not request.finished.is_set()


# --------------------------------------------------------------------------- keep-alive


def test_keep_alive_comments_while_the_model_is_silent(make_app, fake, monkeypatch) -> None:
    monkeypatch.setattr(sse, "KEEP_ALIVE_INTERVAL", 0.3)
    client = make_app().server.test_client()
    fake.script(Reply("Slow start.", chunk_size=100, stall=1.2, stall_after=0))

    text, final, raw = stream(client)

    assert text == "Slow start." and final["done"] is True
    # Several comments, all before the first event (nothing else was said meanwhile).
    assert raw.startswith(sse.KEEP_ALIVE * 2), raw[:80]
    assert raw.count(sse.KEEP_ALIVE) <= 5


def test_no_keep_alive_when_text_flows(make_app, fake, monkeypatch) -> None:
    monkeypatch.setattr(sse, "KEEP_ALIVE_INTERVAL", 0.3)
    client = make_app().server.test_client()
    fake.script(Reply("word " * 10, chunk_size=5, delay=0.1))

    _, final, raw = stream(client)

    assert final["done"] is True
    assert sse.KEEP_ALIVE not in raw


# --------------------------------------------------------------------------- clients that leave


def open_request(url: str, path: str, body: dict, headers: dict[str, str] | None = None):
    """Send a POST over a raw socket (a browser we can make vanish); returns the socket."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    payload = json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
    return sock


def read_first_event(sock: socket.socket) -> bytes:
    """Read until one complete `data:` event has arrived (through the chunked framing)."""
    received = b""
    while True:
        start = received.find(b"data: ")
        if start >= 0 and b"\n\n" in received[start:]:
            return received
        data = sock.recv(4096)
        assert data, f"the server closed first: {received!r}"
        received += data


def leave(sock: socket.socket) -> float:
    """Close the client's socket as a closing tab does; returns when."""
    left = time.monotonic()
    sock.close()
    return left


def assert_upstream_hung_up(request, left: float, label: str) -> float:
    assert request.client_disconnected.wait(10), f"{label}: upstream still open for nobody"
    assert request.disconnected_at is not None
    took = request.disconnected_at - left
    # Client close -> upstream connection closed, shown with `pytest -s`.
    print(f"\n{label}: upstream connection closed {took * 1000:.0f} ms after the client left")
    assert took < MAX_HANG_UP, f"{label}: took {took:.2f} s"
    assert not request.finished.is_set()
    return took


def chat_body() -> dict:
    return {"messages": USER}


def gateway_body() -> dict:
    return {"model": "gpt-4o-mini", "messages": USER, "stream": True}


GATEWAY_HEADERS = {"Authorization": f"Bearer {GATEWAY_KEY}"}
PATHS = {
    "chat": ("/api/chat/stream", chat_body, None),
    "gateway": ("/v1/chat/completions", gateway_body, GATEWAY_HEADERS),
}


def leave_after_first_event(url: str, fake: FakeUpstream, path_name: str, label: str) -> None:
    """First text, then the model pauses; the client reads that text and leaves."""
    path, body, headers = PATHS[path_name]
    fake.script(Reply("word " * 40, chunk_size=5, stall=SILENCE, stall_after=1))
    sock = open_request(url, path, body(), headers)
    first = read_first_event(sock)
    assert b'"word ' in first or b'"role"' in first, first
    (request,) = fake.wait_for_requests(1)
    time.sleep(0.3)  # the app is now blocked waiting for the model
    assert not request.client_disconnected.is_set()
    assert_upstream_hung_up(request, leave(sock), label)


def leave_before_any_text(url: str, fake: FakeUpstream, path_name: str, label: str) -> None:
    """The model accepted the request (headers, role chunk) but says nothing; the client leaves."""
    path, body, headers = PATHS[path_name]
    fake.script(Reply("Too late.", stall=SILENCE, stall_after=0))
    sock = open_request(url, path, body(), headers)
    (request,) = fake.wait_for_requests(1)
    time.sleep(0.5)
    assert not request.client_disconnected.is_set()
    assert_upstream_hung_up(request, leave(sock), label)


def leave_before_the_headers(url: str, fake: FakeUpstream, label: str) -> float:
    """The model has not even sent response headers (a slow or reasoning model); the client
    leaves. The SDK has no response yet, so only the transport can hang up (llm_client)."""
    fake.script(Hang(SILENCE))
    sock = open_request(url, "/api/chat/stream", chat_body())
    (request,) = fake.wait_for_requests(1)
    time.sleep(0.5)  # the app is now blocked waiting for the headers
    assert not request.client_disconnected.is_set()
    return assert_upstream_hung_up(request, leave(sock), label)


def http_post(url: str, path: str) -> tuple[int, str]:
    """POST `path` with the question over a real connection: (status, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", path, json.dumps(chat_body()), {"Content-Type": "application/json"})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def http_stream(url: str) -> tuple[str, dict]:
    """POST /api/chat/stream over a real connection: (the text, the final event)."""
    status, body = http_post(url, "/api/chat/stream")
    assert status == 200
    *deltas, final = parse(body)
    return "".join(e["delta"] for e in deltas), final


def assert_still_serves(url: str, fake: FakeUpstream) -> None:
    """A further reply works, promptly: the worker thread was freed."""
    fake.script(Reply("Next visitor."))
    text, final = http_stream(url)
    assert text == "Next visitor."
    assert final["done"] is True


def assert_back_to_back_streams_unharmed(url: str, fake: FakeUpstream) -> None:
    """20 streamed replies one after another all arrive whole, each on a pooled upstream
    connection an earlier request used, which nothing shut down: the cancel hooks of reads
    never outlive their request. (The SDK closes a streamed response at `[DONE]` before its
    last HTTP chunk, so a stream's connection is not reused: a whole reply, /api/chat, goes
    first each time and leaves its connection in the pool.)"""
    for i in range(20):
        fake.script(Reply(f"Whole reply {i}."), Reply(f"Streamed reply {i}.", chunk_size=3))
        status, body = http_post(url, "/api/chat")
        assert status == 200 and json.loads(body)["reply"] == f"Whole reply {i}.", body
        text, final = http_stream(url)
        assert text == f"Streamed reply {i}.", i
        assert final["done"] is True, final
    requests = fake.requests
    assert len(requests) == 40
    for whole, streamed in zip(requests[::2], requests[1::2], strict=True):
        assert streamed.client_address == whole.client_address  # the pooled connection
    for request in requests:
        assert request.finished.wait(1)
        assert not request.client_disconnected.is_set()


@pytest.mark.parametrize("path_name", ["chat", "gateway"])
def test_werkzeug_client_leaving_while_the_model_pauses(live_server, fake, path_name) -> None:
    with live_server(gateway_api_keys=GATEWAY_KEY) as server:
        leave_after_first_event(server.url, fake, path_name, f"werkzeug {path_name}, mid-reply")
        assert_still_serves(server.url, fake)


def test_werkzeug_client_leaving_before_any_text(live_server, fake) -> None:
    with live_server() as server:
        leave_before_any_text(server.url, fake, "chat", "werkzeug chat, before any text")
        assert_still_serves(server.url, fake)


def test_werkzeug_client_leaving_before_the_upstream_answers(live_server, fake) -> None:
    with live_server() as server:
        leave_before_the_headers(server.url, fake, "werkzeug chat, before the headers")
        assert_still_serves(server.url, fake)


def test_a_reply_abandoned_while_the_model_pauses_is_recorded_as_stopped(
    make_app, fake, tmp_path
) -> None:
    app = make_app(database_url=f"sqlite:///{tmp_path}/chat.db")
    store = app.server.extensions["chat_records"]
    fake.script(Reply("word " * 40, chunk_size=5, stall=SILENCE, stall_after=2))
    with LiveServer(app.server) as server:
        parts = urlsplit(server.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        conn.request("GET", "/healthz")
        first = conn.getresponse()
        cookie = first.getheader("Set-Cookie").split(";")[0]
        first.read()
        conn.close()
        from itsdangerous import URLSafeSerializer

        owner = URLSafeSerializer("test-secret-not-for-production", salt="chat-identity").loads(
            cookie.split("=", 1)[1]
        )
        assert cookie.startswith(f"{COOKIE}=")
        cid = store.create_conversation(owner)
        body = {"messages": USER, "conversation_id": cid}
        sock = open_request(server.url, "/api/chat/stream", body, {"Cookie": cookie})
        received = read_first_event(sock)
        while received.count(b"data: ") < 2:
            received += sock.recv(4096)
        (request,) = fake.wait_for_requests(1)
        time.sleep(0.3)
        assert_upstream_hung_up(request, leave(sock), "werkzeug chat, recorded")

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not store.history(owner, cid):
            time.sleep(0.05)
    [entry] = store.history(owner, cid)
    assert entry["status"] == "stopped"
    assert entry["content"] == "word word "


# --------------------------------------------------------------------------- under gunicorn


@pytest.fixture(scope="module")
def gunicorn_app(upstream: FakeUpstream):
    """The app under gunicorn with gthread and ONE thread: a thread left blocked would stall
    every later request, so the tests below also prove the worker thread was freed."""
    from tests.e2e.conftest import AppProcess

    app = AppProcess(
        {
            "OPENAI_API_KEY": TEST_KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_MAX_RETRIES": "0",
            "OPENAI_TIMEOUT": "60",
            "GATEWAY_API_KEYS": GATEWAY_KEY,
            "GUNICORN_THREADS": "1",
        }
    )
    yield app
    app.stop()


@pytest.mark.parametrize("path_name", ["chat", "gateway"])
def test_gunicorn_client_leaving_while_the_model_pauses(gunicorn_app, fake, path_name) -> None:
    leave_after_first_event(gunicorn_app.url, fake, path_name, f"gunicorn {path_name}, mid-reply")
    assert_still_serves(gunicorn_app.url, fake)


def test_gunicorn_client_leaving_before_any_text(gunicorn_app, fake) -> None:
    leave_before_any_text(gunicorn_app.url, fake, "chat", "gunicorn chat, before any text")
    assert_still_serves(gunicorn_app.url, fake)


def test_gunicorn_client_leaving_before_the_upstream_answers(gunicorn_app, fake) -> None:
    """A Hang sends not even response headers, so the SDK has no response whose socket could
    be shut down: the transport's read hook does it (services.llm_client.CancellableStream).
    The worker thread is freed too (one thread: the next request is served)."""
    leave_before_the_headers(gunicorn_app.url, fake, "gunicorn chat, before the headers")
    assert_still_serves(gunicorn_app.url, fake)


def test_gunicorn_back_to_back_streams_on_a_pooled_connection(gunicorn_app, fake) -> None:
    assert_back_to_back_streams_unharmed(gunicorn_app.url, fake)


# --------------------------------------------------------------------------- pooled connections


def test_werkzeug_back_to_back_streams_on_a_pooled_connection(live_server, fake) -> None:
    with live_server() as server:
        assert_back_to_back_streams_unharmed(server.url, fake)


def test_a_client_leaving_does_not_disturb_a_concurrent_stream(live_server, fake) -> None:
    """One client leaves while its upstream has not answered; another, streaming meanwhile on
    another pooled connection, gets its whole reply."""
    text = "word " * 20
    result: list = []
    with live_server() as server:
        fake.script(Reply(text, chunk_size=5, delay=0.1))  # about 2 s
        steady = threading.Thread(target=lambda: result.append(http_stream(server.url)))
        steady.start()
        fake.wait_for_requests(1)
        fake.script(Hang(SILENCE))
        sock = open_request(server.url, "/api/chat/stream", chat_body())
        first, leaving = fake.wait_for_requests(2)
        time.sleep(0.3)
        assert_upstream_hung_up(leaving, leave(sock), "werkzeug chat, beside another stream")
        steady.join(10)
    [(received, final)] = result
    assert received == text
    assert final["done"] is True
    assert first.finished.wait(1)
    assert not first.client_disconnected.is_set()
    assert first.client_address != leaving.client_address


def test_a_late_cancel_never_touches_the_pooled_connection_it_used(fake) -> None:
    """A Cancel fired after its request ended normally must not shut the socket down: the
    connection is back in the pool, and now serves another thread's streamed reply."""
    service = ChatService(settings_for(fake))
    text = "word " * 10
    fake.script(Reply("First."), Reply(text, chunk_size=5, delay=0.1))
    first = Cancel()
    with cancel_scope(first):
        assert service.complete(USER)["reply"] == "First."

    second: list[dict] = []

    def run() -> None:
        with cancel_scope(Cancel()):
            second.extend(service.stream(USER))

    thread = threading.Thread(target=run)
    thread.start()
    fake.wait_for_requests(2)
    time.sleep(0.3)  # the second reply is streaming
    first.cancel()
    thread.join(10)
    one, two = fake.requests
    assert two.client_address == one.client_address  # the same pooled connection
    assert "".join(e.get("delta", "") for e in second) == text
    assert second[-1]["done"] is True
    assert not two.client_disconnected.is_set()


@pytest.mark.parametrize("proxy", [False, True])
def test_every_upstream_connection_can_be_cut_short(proxy) -> None:
    """Direct or through LOCAL_PROXY, the pools open connections a Cancel can shut down (this
    reaches into httpx2's internals: an upgrade that moves them must fail here)."""
    client = http_client(Settings(_env_file=None, openai_api_key=TEST_KEY, use_local_proxy=proxy))
    transports = [client._transport, *client._mounts.values()]
    backends = [t._pool._network_backend for t in transports if t is not None]
    assert len(backends) == (2 if proxy else 1)
    assert all(isinstance(backend, CancellableBackend) for backend in backends)
