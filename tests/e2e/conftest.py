"""Browser tests: the app runs under gunicorn (as in production), Chromium drives the page.

Chromium is Debian's (`apt-get install chromium`); set CHROMIUM_PATH to use another build.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import TEST_KEY
from tests.fake_upstream import FakeUpstream

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "Chromium is needed for the browser tests: `apt-get install chromium` "
            "(or set CHROMIUM_PATH to a Chromium/Chrome binary)."
        )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppProcess:
    """`gunicorn chat_app:server` with the repo's gunicorn.conf.py, on a free local port."""

    def __init__(self, env: dict[str, str], port: int | None = None):
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"gunicorn-{self.port}.log"
        full_env = {**os.environ, "CHAT_ENV_FILE": "", "WEB_CONCURRENCY": "1", **env}
        self._log = self.log_path.open("w")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "chat_app:server",
                "--bind",
                f"127.0.0.1:{self.port}",
            ],
            cwd=REPO,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the workers
        )
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not become healthy: {self.log_path.read_text()[-2000:]}")

    def log(self) -> str:
        """What the server printed so far."""
        self._log.flush()
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL the master and its workers at once, as a crash or OOM kill would."""
        os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(10)

    def stop(self) -> None:
        if self._proc.poll() is not None:
            self._log.close()
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._log.close()


@pytest.fixture(scope="session")
def start_app(upstream: FakeUpstream) -> Iterator[Callable[..., AppProcess]]:
    """Start app processes against the fake upstream; all are stopped at the end."""
    started: list[AppProcess] = []

    def start(port: int | None = None, **env: str) -> AppProcess:
        base = {
            "OPENAI_API_KEY": TEST_KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_MAX_RETRIES": "0",
            "OPENAI_TIMEOUT": "10",
        }
        base.update(env)
        app = AppProcess({k: v for k, v in base.items() if v is not None}, port=port)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture(scope="session")
def app_server(start_app) -> AppProcess:
    """The app as a newcomer runs it: a key, the default settings."""
    return start_app()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser: Browser, fake: FakeUpstream) -> Iterator[Callable[..., Page]]:
    """Open the app in a fresh browser profile (empty local storage): `open_page(app.url)`."""
    contexts = []

    def open_(
        url: str, *, locale: str = "en-US", timezone_id: str | None = None, **options
    ) -> Page:
        """`options`: more of Playwright's `new_context` (a phone's viewport, touch ...)."""
        context = browser.new_context(
            **{
                "locale": locale,
                "timezone_id": timezone_id,
                "viewport": {"width": 1100, "height": 760},
                "accept_downloads": True,
                **options,
            }
        )
        contexts.append(context)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(".chat-welcome, .chat-message", timeout=20_000)
        return page

    yield open_
    for context in contexts:
        context.close()
