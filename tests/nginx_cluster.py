"""Debian's nginx in front of several app instances on 127.0.0.1, with the shipped rules.

Used by tests/integration/test_nginx_instances.py and `python bench/load.py --nginx`. nginx
runs as an ordinary child process (`nginx -p DIR -c DIR/nginx.conf`, no daemon, its pid, logs
and temp files in DIR), so it needs no root and touches nothing of the system's nginx. Its
server block includes deploy/nginx/chat-locations.conf as it ships, and its upstream block is
deploy/nginx/chat.conf's `upstream chat_app` with the instances' addresses put in: what CI
checks is what an operator installs.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NGINX_DIR = REPO / "deploy" / "nginx"
SITE = NGINX_DIR / "chat.conf"
LOCATIONS = NGINX_DIR / "chat-locations.conf"
# Tests only: which instance answered (nginx's $upstream_addr), so a test can aim at it.
INSTANCE_HEADER = "X-Chat-Instance"


def nginx_binary() -> str | None:
    """Debian's nginx (`apt-get install nginx`), None when it is not installed."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def upstream_block(ports: Sequence[int]) -> str:
    """chat.conf's `upstream chat_app {}` with its example servers replaced by local ports."""
    found = re.search(r"^upstream chat_app \{\n(.*?)^\}", SITE.read_text(), re.M | re.S)
    if found is None:
        raise AssertionError(f"{SITE} has no `upstream chat_app {{ ... }}` block")
    kept = [line for line in found.group(1).splitlines() if not line.strip().startswith("server ")]
    servers = [f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in ports]
    return "upstream chat_app {\n" + "\n".join(servers + kept) + "\n}\n"


def site_config(directory: Path, port: int, instances: Sequence[int]) -> str:
    """A whole nginx.conf: an http-only server on 127.0.0.1:`port` with the shipped rules."""
    d = directory
    # As root, nginx's workers would run as nobody, who cannot enter a private temp directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{upstream_block(instances)}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        add_header {INSTANCE_HEADER} $upstream_addr always;
        include {LOCATIONS};
    }}
}}
"""


class Nginx:
    """nginx on a free port of 127.0.0.1 in front of `instances` (ports of 127.0.0.1)."""

    def __init__(self, directory: Path, instances: Sequence[int]):
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = self.directory / "nginx.conf"
        self.conf.write_text(site_config(self.directory, self.port, instances))
        command = [binary, "-p", str(self.directory), "-e", str(self.directory / "error.log")]
        checked = subprocess.run(
            [*command, "-c", str(self.conf), "-t"], capture_output=True, text=True
        )
        if checked.returncode != 0:
            raise RuntimeError(f"nginx -t refused the config: {checked.stderr}")
        self._process = subprocess.Popen(
            [*command, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_listening()

    def _wait_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    message = f"nginx is not listening: {self.error_log()[-2000:]}"
                    raise RuntimeError(message) from None
                time.sleep(0.05)

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)


@contextmanager
def cluster(
    directory: Path, env: dict[str, str], *, instances: int = 2
) -> Iterator[tuple[Nginx, list]]:
    """`instances` gunicorn apps (shipped gunicorn.conf.py, the same `env`) and nginx in front;
    all stopped at the end. Yields (nginx, [AppProcess, ...])."""
    from tests.e2e.conftest import AppProcess

    apps: list = []
    proxy = None
    try:
        for _ in range(instances):
            apps.append(AppProcess(env))
        proxy = Nginx(directory, [app.port for app in apps])
        yield proxy, apps
    finally:
        if proxy is not None:
            proxy.stop()
        for app in apps:
            app.stop()
