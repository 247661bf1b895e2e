"""The page behind nginx with two instances (issue 19), in Chromium: the instance writing a
reply is killed mid-reply, and the page says what happened and goes on with the survivor.

The cluster is tests/nginx_cluster.py's (the shipped nginx rules), on one PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from services.records.models import Message
from services.records.repository import Records
from tests import records_db
from tests.conftest import TEST_KEY
from tests.fake_upstream import FakeUpstream, Reply
from tests.nginx_cluster import cluster, nginx_binary
from tests.redis_server import IN_CI

pytestmark = pytest.mark.e2e

LONG = "".join(f"w{n:03d} " for n in range(400))  # 20 s at one 5-character piece per 50 ms


@pytest.fixture(scope="module")
def two(upstream: FakeUpstream, postgres_server: str, tmp_path_factory) -> Iterator:
    if nginx_binary() is None:
        if IN_CI:
            pytest.fail("CI needs nginx for the several-instances tests: apt-get install nginx")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    with records_db.empty_schema(postgres_server) as url:
        env = {
            "OPENAI_API_KEY": TEST_KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_MAX_RETRIES": "0",
            "OPENAI_TIMEOUT": "30",
            "DATABASE_URL": url,
            "TRUSTED_PROXIES": "1",
            "RECORD_BATCH_CHARS": "20",
            "RECORD_BATCH_SECONDS": "3600",
            "GUNICORN_THREADS": "8",
        }
        with cluster(tmp_path_factory.mktemp("nginx-page"), env) as (nginx, apps):
            records = Records(url)
            yield nginx, apps, records
            records.close()


def workers_of(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def test_a_killed_instance_mid_reply_the_page_says_so_and_goes_on(two, open_page, fake):
    nginx, apps, records = two
    fake.script(Reply(LONG, chunk_size=5, delay=0.05))
    page = open_page(nginx.url)
    page.fill("#chat-input", "Tell me everything.")
    page.press("#chat-input", "Enter")
    expect(page.locator("#chat-live-reply")).to_contain_text("w010", timeout=15_000)

    # The instance writing it: its worker's pid is in the reply's writer ("host:pid:start").
    def writer() -> str | None:
        with records.engine.connect() as connection:
            return connection.scalar(
                select(Message.writer).where(Message.role == "assistant", Message.content != "")
            )

    deadline = time.monotonic() + 10
    while writer() is None:
        assert time.monotonic() < deadline, "no batch of the reply on record"
        time.sleep(0.05)
    pid = int(writer().split(":")[1])
    [victim] = [app for app in apps if pid in workers_of(app._proc.pid)]
    victim.kill()  # SIGKILL to its master and worker

    reply = page.locator(".chat-message-assistant").last
    expect(reply).to_contain_text(
        "Interrupted: the server stopped before this reply finished", timeout=20_000
    )
    expect(reply).to_contain_text("w000 w001")  # the text saved before the crash
    expect(page.locator(".chat-message-user").last).to_contain_text("Tell me everything.")

    # The next question goes to the survivor.
    page.fill("#chat-input", "Still there?")
    page.press("#chat-input", "Enter")
    expect(page.locator(".chat-message-assistant").last).to_contain_text(
        "Echo: Still there?", timeout=15_000
    )
