"""startup.sh, the startup command of Azure App Service (docs/azure.md), started the way App
Service starts it: its environment (WEBSITES_PORT/PORT, WEBSITE_*), Azure OpenAI as the
upstream, and requests as its front end forwards them (X-Forwarded-For as IP:port, -Proto)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import httpx2 as httpx
import pytest

from api.identity import COOKIE
from tests.e2e.conftest import _free_port
from tests.fake_upstream import Reply

REPO = Path(__file__).resolve().parents[2]
HOST = "chat-test.azurewebsites.net"
DEPLOYMENT = "chat-deploy"
QUESTION = {"messages": [{"role": "user", "content": "hello"}], "model": "gpt-4o-mini"}
# What the front end sends: the client as IP:port (a new port per connection) and https.
CLIENT_A = "203.0.113.7"
CLIENT_B = "198.51.100.9"


def forwarded(client: str, port: int) -> dict[str, str]:
    return {
        "X-Forwarded-For": f"{client}:{port}",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": HOST,
        "X-ARR-SSL": "2048|256|CN=Microsoft Azure RSA TLS Issuing CA 03|CN=*.azurewebsites.net",
        "X-Original-URL": "/",
    }


def python_shim(directory: Path, calls: Path) -> Path:
    """A `python` that notes each command; `chat_app.py precompress` is only noted (the real
    one writes the repo's data/ and takes ~20 s of CPU), everything else runs for real."""
    shim = directory / "python"
    shim.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{calls}"\n'
        'if [ "$1" = chat_app.py ] && [ "$2" = precompress ]; then exit 0; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    shim.chmod(0o755)
    return shim


@pytest.fixture(scope="module")
def app_service(upstream, tmp_path_factory):
    """`sh startup.sh` with what App Service puts in the environment."""
    tmp = tmp_path_factory.mktemp("appservice")
    calls = tmp / "calls.txt"
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        # startup.sh decides these for App Service; a developer's own must not leak in.
        if key not in ("TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS", "PORT", "WEBSITES_PORT")
        and not key.startswith(("OPENAI_", "AZURE_OPENAI_"))
    }
    env.update(
        {
            "PYTHON": str(python_shim(tmp, calls)),
            # What the built-in Python image is given: PORT (not the default 8000 here, so a
            # script ignoring it would not answer).
            "PORT": str(port),
            "WEBSITE_SITE_NAME": "chat-test",
            "WEBSITE_HOSTNAME": HOST,
            "WEBSITE_INSTANCE_ID": "0" * 64,
            "CHAT_ENV_FILE": "",
            "AZURE_OPENAI_ENDPOINT": upstream.azure_endpoint,
            "AZURE_OPENAI_API_KEY": upstream.api_key,
            "OPENAI_API_VERSION": "2024-10-21",
            "AZURE_OPENAI_MODEL_MAPPER": f"gpt-4o-mini={DEPLOYMENT}",
            "SECRET_KEY": "app-service-test-secret",
            "DATABASE_URL": f"sqlite:///{tmp}/chat.db",
            "ATTACHMENT_DIR": str(tmp / "attachments"),
            "MAX_REQUEST_PER_HOUR": "2",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "4",
        }
    )
    log_path = tmp / "startup.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            ["sh", str(REPO / "startup.sh")],
            cwd=tmp,  # App Service runs it from elsewhere; the script finds the app itself
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, log_path)
        yield {"url": url, "calls": calls, "log": log_path}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_healthy(proc: subprocess.Popen, url: str, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"startup.sh exited: {log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"startup.sh did not become healthy: {log_path.read_text()[-3000:]}")


def test_it_answers_on_port_after_precompressing(app_service):
    response = httpx.get(app_service["url"] + "/healthz", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    calls = app_service["calls"].read_text().splitlines()
    assert calls[0] == "chat_app.py precompress"
    assert calls[1] == "-m gunicorn chat_app:server"  # gunicorn.conf.py from the repo root
    assert "buffered_worker.BufferingThreadWorker" in app_service["log"].read_text()


def test_the_app_sees_https_through_the_front_end(app_service):
    page = httpx.get(
        app_service["url"] + "/", headers={"Accept": "text/html", **forwarded(CLIENT_A, 50001)}
    )
    assert page.status_code == 200
    # HSTS is only sent over https, and the identity cookie is Secure only then.
    assert "max-age" in page.headers["Strict-Transport-Security"]
    identity = next(c for c in page.headers.get_list("set-cookie") if c.startswith(COOKIE))
    assert "Secure" in identity
    plain = httpx.get(app_service["url"] + "/", headers={"Accept": "text/html"})
    assert "Strict-Transport-Security" not in plain.headers


def test_limits_count_the_forwarded_client_whatever_its_port(app_service, fake):
    url = app_service["url"] + "/api/chat"
    # MAX_REQUEST_PER_HOUR=2: a third question from the same client is refused, although
    # each came on a new connection (a new port in X-Forwarded-For).
    statuses = [
        httpx.post(url, json=QUESTION, headers=forwarded(CLIENT_A, port), timeout=10).status_code
        for port in (50011, 50012, 50013)
    ]
    assert statuses == [200, 200, 429]
    other = httpx.post(url, json=QUESTION, headers=forwarded(CLIENT_B, 50011), timeout=10)
    assert other.status_code == 200
    assert len(fake.requests) == 3
    # Azure OpenAI's path and key header, with the mapped deployment.
    record = fake.requests[0]
    assert record.deployment == DEPLOYMENT and record.query["api-version"] == "2024-10-21"
    assert "api-key" in {k.lower() for k in record.headers}


def test_a_reply_streams_event_by_event(app_service, fake):
    gate = threading.Event()
    # The model sends "Hello " and then waits for the test: the first event must reach the
    # client while the rest of the reply does not exist yet.
    fake.script(Reply("Hello there, world", chunk_size=6, stall_after=1, hold=gate))
    events = []
    with httpx.stream(
        "POST",
        app_service["url"] + "/api/chat/stream",
        json=QUESTION,
        headers=forwarded("192.0.2.44", 50021),
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[len("data: ") :])
            events.append(event)
            if event.get("delta") == "Hello ":
                assert not gate.is_set()
                gate.set()  # now the model may go on
            if event.get("done") or event.get("error"):
                break
    text = "".join(e.get("delta", "") for e in events)
    assert text == "Hello there, world"
    assert events[-1].get("done") is True


@pytest.mark.parametrize(
    ("given", "bound"),
    [
        ({"PORT": "8123"}, "8123"),
        ({"WEBSITES_PORT": "8124"}, "8124"),  # a custom setting with no PORT beside it
        ({"PORT": "8125", "WEBSITES_PORT": "8125"}, "8125"),  # App Service sets both alike
        ({}, "8000"),  # App Service's default
    ],
)
def test_startup_picks_the_port_app_service_gives(tmp_path, given, bound):
    """The port gunicorn is started with (a `python` that reports it instead of serving)."""
    shim = tmp_path / "python"
    seen = tmp_path / "port.txt"
    shim.write_text(f'#!/bin/sh\nif [ "$1" = -m ]; then echo "$PORT" > "{seen}"; fi\nexit 0\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "WEBSITES_PORT")}
    env.update(given, PYTHON=str(shim))
    done = subprocess.run(["sh", str(REPO / "startup.sh")], env=env, timeout=30)
    assert done.returncode == 0
    assert seen.read_text().strip() == bound
