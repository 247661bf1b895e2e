"""A full disk under the records: the chat answers, the page says the conversation is not being
saved (in the page's language), and the log says why once.

The records live on a tiny tmpfs of their own, filled up while the app runs, so SQLite really
gets "database or disk is full" from the kernel (ENOSPC), as on a server whose disk filled.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from i18n import t
from tests.conftest import TEST_KEY
from tests.e2e.conftest import AppProcess
from tests.e2e.test_chat_page import send, wait_idle

pytestmark = pytest.mark.e2e

NOTICE = "#chat-records-not-saved"
LOGGED_ONCE = "conversation records cannot be written"


@pytest.fixture
def tiny_disk(tmp_path) -> Path:
    """A 2 MB tmpfs (needs mount(8) as root, as `.ci/run` runs)."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"this test mounts a tiny tmpfs and needs root: {mounted.stderr.strip()}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no room left; returns it (delete it to free the disk)."""
    filler = disk / "filler"
    block = b"\0" * 4096
    with contextlib.suppress(OSError), filler.open("ab") as out:
        while True:
            out.write(block)
            out.flush()
    return filler


@pytest.fixture
def app(tiny_disk, upstream):
    process = AppProcess(
        {
            "OPENAI_API_KEY": TEST_KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_MAX_RETRIES": "0",
            "DATABASE_URL": f"sqlite:///{tiny_disk}/chat.db",
        }
    )
    yield process
    process.stop()


def test_a_full_disk_leaves_the_chat_answering_and_says_so(app, tiny_disk, open_page, fake):
    page = open_page(app.url)
    send(page, "saved question")
    wait_idle(page, 1)
    expect(page.locator(NOTICE)).to_be_hidden()

    filler = fill(tiny_disk)
    # Long questions, so each write needs new pages the disk cannot give.
    for number in range(2, 5):
        send(page, f"question {number} " + "x" * 6000)
        wait_idle(page, number)
        expect(page.locator(".chat-message-assistant").last).to_contain_text(f"question {number}")
    notice = page.locator(NOTICE)
    expect(notice).to_be_visible()
    expect(notice).to_have_text(t("en", "records.not_saved"))

    # A page in Chinese says it in Chinese; its sidebar and turns still answer.
    chinese = open_page(app.url, locale="zh-CN")
    send(chinese, "你好")
    wait_idle(chinese, 1)
    expect(chinese.locator(NOTICE)).to_have_text(t("zh-cn", "records.not_saved"))

    log = app.log()
    assert log.count(LOGGED_ONCE) == 1, log[-3000:]
    assert "database or disk is full" in log
    assert "Traceback" not in log
    statuses = re.findall(r'" (\d{3}) ', log)
    assert statuses and "500" not in statuses

    # Room again: the next turn is saved, and the notice goes.
    filler.unlink()
    send(page, "saved again")
    wait_idle(page, 5)
    expect(page.locator(NOTICE)).to_be_hidden()
    assert "conversation records are written again" in app.log()
