"""`python chat_app.py local`: upstream traffic goes through LOCAL_PROXY, and only then.

A tiny real HTTP forward proxy (below) records what passes through it and relays it to the fake
upstream, so the tests can tell traffic that went through the proxy from traffic that did not.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import TEST_KEY
from tests.fake_upstream import Reply
from tests.integration.test_api_chat import parse_sse, split_stream

ROOT = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "Through the proxy, 请"}]
JSON = {"Content-Type": "application/json"}

# Headers that belong to one hop and must not be forwarded (RFC 9110, section 7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


# --------------------------------------------------------------------------- the proxy


@dataclass
class ProxiedRequest:
    """One request as the proxy received it; `target` is the absolute-form request target."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def do_CONNECT(self) -> None:
        # An https:// target asks for a tunnel; record it and refuse (no TLS in these tests).
        self.server.owner.record(ProxiedRequest("CONNECT", self.path, dict(self.headers), b""))
        self.send_error(502, "Tunnels are not supported by the test proxy")
        self.close_connection = True

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.owner.record(ProxiedRequest(self.command, self.path, headers, body))
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self.send_error(400, "A forward proxy needs an absolute http:// request target")
            return
        forward = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=10)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path or "/", body, headers=forward)
            self.server.owner.record_port(upstream.sock.getsockname()[1])
            response = upstream.getresponse()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            # Relay as it arrives, so a streamed reply stays streamed.
            while chunk := response.read1(65536):
                self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # either side went away: drop this hop too
        finally:
            upstream.close()

    do_POST = do_GET


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: ForwardProxy) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class ForwardProxy:
    """A minimal HTTP forward proxy on 127.0.0.1 that records every request it relays."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[ProxiedRequest] = []
        self._ports: set[int] = set()
        self._server = _ProxyServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def record_port(self, port: int) -> None:
        with self._lock:
            self._ports.add(port)

    @property
    def requests(self) -> list[ProxiedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def outgoing_ports(self) -> set[int]:
        """Local ports of the proxy's own connections to the upstream."""
        with self._lock:
            return set(self._ports)


@pytest.fixture
def proxy():
    with ForwardProxy() as running:
        yield running


def _stream(client, messages=USER) -> tuple[str, dict]:
    response = client.post("/api/chat/stream", json={"messages": messages})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    return split_stream(parse_sse(response.get_data(as_text=True)))


# --------------------------------------------------------------------------- in process


def test_local_mode_streams_through_the_proxy(make_app, fake, proxy) -> None:
    client = make_app(use_local_proxy=True, local_proxy=proxy.url).server.test_client()
    fake.script(Reply("Relayed: 你好 👋, every piece of it.", delay=0.01))

    text, final = _stream(client)

    assert text == "Relayed: 你好 👋, every piece of it."
    assert final["done"] is True
    (relayed,) = proxy.requests
    assert relayed.method == "POST"
    assert relayed.target == f"{fake.base_url}/chat/completions"
    assert relayed.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert json.loads(relayed.body)["messages"] == USER
    (arrived,) = fake.requests
    # The fake was reached from the proxy's socket, not straight from the app.
    assert arrived.client_address[1] in proxy.outgoing_ports
    assert arrived.body["stream"] is True


def test_local_mode_json_route_through_the_proxy(make_app, fake, proxy) -> None:
    client = make_app(use_local_proxy=True, local_proxy=proxy.url).server.test_client()

    response = client.post("/api/chat", json={"messages": USER})

    assert response.status_code == 200
    assert response.get_json()["reply"] == f"Echo: {USER[-1]['content']}"
    assert [r.target for r in proxy.requests] == [f"{fake.base_url}/chat/completions"]
    assert fake.requests[0].client_address[1] in proxy.outgoing_ports


def test_without_local_mode_the_proxy_sees_nothing(make_app, fake, proxy) -> None:
    # LOCAL_PROXY is configured, but only `local` mode may use it.
    client = make_app(local_proxy=proxy.url).server.test_client()

    text, final = _stream(client)
    response = client.post("/api/chat", json={"messages": USER})

    assert final["done"] is True
    assert text == f"Echo: {USER[-1]['content']}"
    assert response.status_code == 200
    assert len(fake.requests) == 2
    assert proxy.requests == []
    assert not {r.client_address[1] for r in fake.requests} & proxy.outgoing_ports


def test_local_mode_reaches_the_official_api_only_through_the_proxy(make_app, fake, proxy) -> None:
    # The official https endpoint: the client must ask the proxy for a tunnel, never connect
    # by itself. The test proxy refuses tunnels, so the user sees a connection error.
    app = make_app(openai_base_url=None, use_local_proxy=True, local_proxy=proxy.url)
    client = app.server.test_client()

    text, final = _stream(client)

    assert text == ""
    assert final["error"]["type"] == "connection_error"
    assert [(r.method, r.target) for r in proxy.requests] == [("CONNECT", "api.openai.com:443")]
    assert fake.requests == []


def test_local_mode_without_a_key_calls_no_one(make_app, fake, proxy) -> None:
    app = make_app(
        openai_api_key=None, openai_base_url=None, use_local_proxy=True, local_proxy=proxy.url
    )
    client = app.server.test_client()

    _, final = _stream(client)
    response = client.post("/api/chat", json={"messages": USER})

    assert final["error"]["type"] == "missing_api_key"
    assert response.status_code == 503
    assert proxy.requests == []
    assert fake.requests == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_local_mode_with_the_proxy_down(make_app, fake) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    client = make_app(use_local_proxy=True, local_proxy=dead).server.test_client()

    _, final = _stream(client)
    response = client.post("/api/chat", json={"messages": USER})

    assert final["error"]["type"] == "connection_error"
    assert response.status_code == 502
    assert response.get_json()["error"]["type"] == "connection_error"
    assert fake.requests == []


# --------------------------------------------------------------------------- the command line


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("OPENAI_", "AZURE_", "CHAT_"))
        and key.upper() not in {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
        and key.upper() not in {"LOCAL_PROXY", "HOST", "PORT"}
    }
    env["CHAT_ENV_FILE"] = ""
    env.update(extra)
    return env


def test_unknown_argument_prints_usage() -> None:
    result = subprocess.run(
        [sys.executable, "chat_app.py", "bogus"],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode != 0
    assert "usage: python chat_app.py [COMMAND]" in result.stderr
    assert "unknown argument: bogus" in result.stderr
    assert "local" in result.stderr
    assert "Traceback" not in result.stderr


def _wait_until_serving(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the app exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.1)
    pytest.fail(f"the app did not start:\n{log.read_text()[-2000:]}")


@pytest.mark.parametrize("args", [["local"], []], ids=["local", "default"])
def test_command_line_local_mode(fake, proxy, tmp_path, args) -> None:
    port = _closed_port()
    env = _clean_env(
        OPENAI_API_KEY=TEST_KEY,
        OPENAI_BASE_URL=fake.base_url,
        LOCAL_PROXY=proxy.url,
        HOST="127.0.0.1",
        PORT=str(port),
    )
    log = tmp_path / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "chat_app.py", *args], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        _wait_until_serving(proc, port, log)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/api/chat/stream", json.dumps({"messages": USER}), headers=JSON)
        response = conn.getresponse()
        assert response.status == 200
        text, final = split_stream(parse_sse(response.read().decode()))
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    assert final["done"] is True
    assert text == f"Echo: {USER[-1]['content']}"
    assert len(fake.requests) == 1
    if args == ["local"]:
        assert [r.target for r in proxy.requests] == [f"{fake.base_url}/chat/completions"]
        assert fake.requests[0].client_address[1] in proxy.outgoing_ports
    else:
        assert proxy.requests == []
