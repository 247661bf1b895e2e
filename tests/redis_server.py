"""A Redis server for the shared-limit tests.

TEST_REDIS_URL names one (`.ci/run` starts Debian's redis-server on 127.0.0.1). Without it, a
throwaway server is started when `redis-server` is installed, and the tests skip when it is
not. In CI (CI=true) they never skip: no Redis is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, timeout: float = 10.0) -> None:
    client = redis.Redis.from_url(url, socket_timeout=2)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except redis.exceptions.ConnectionError as error:
            if time.monotonic() > deadline:
                pytest.fail(f"Redis at {url} cannot be reached: {error}")
            time.sleep(0.1)


def redis_server() -> Iterator[str]:
    """Yield the URL of a running Redis (for a session-scoped fixture)."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        _wait_for(url)
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("CI needs Redis: set TEST_REDIS_URL or install redis-server")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for(url)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def flush(url: str) -> None:
    """Forget every counter (each test starts with no requests counted)."""
    redis.Redis.from_url(url).flushdb()


class RedisProcess:
    """A redis-server of the test's own, on a free port, so it can be killed or frozen."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("these tests kill and freeze a Redis: apt-get install redis-server")
        port = _free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self.url)

    def kill(self) -> None:
        """SIGKILL: connections are refused from now on."""
        self._process.kill()
        self._process.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: connections open, but nothing is ever answered."""
        self._process.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)
            self._process.kill()
            self._process.wait(10)
