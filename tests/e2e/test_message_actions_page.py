"""Copy a whole reply, and jump back to the newest message, in headless Chromium."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_chat_page import send, wait_idle
from tests.fake_upstream import Error, Reply

pytestmark = pytest.mark.e2e

FINISHED = "#chat-history-list .chat-message-assistant"
COPY = ".chat-copy-button"

FIRST = """# Plan

1. **Pack** light
2. Check the `train` times

| day | city |
|---|---|
| 1 | Lyon |

<img src=x onerror="window.__ran = 1"> [x](javascript:window.__ran=2)
"""
SECOND = "```python\nprint('hi')  # two  spaces\n```\n\nTrailing *emphasis*  \nand a line break."


def allow_clipboard(page: Page, url: str) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)


def copy_reply(page: Page, reply: int) -> str:
    """Click the copy button of the `reply`-th finished reply; what the clipboard then holds."""
    page.evaluate("navigator.clipboard.writeText('(nothing copied)')")
    page.locator(FINISHED).nth(reply).locator(COPY).click()
    page.wait_for_function(
        "async () => (await navigator.clipboard.readText()) !== '(nothing copied)'",
        timeout=5_000,
    )
    return page.evaluate("navigator.clipboard.readText()")


def test_copy_puts_each_replys_markdown_on_the_clipboard_live_and_after_reload(
    app_server, open_page, fake
):
    page = open_page(app_server.url)
    allow_clipboard(page, app_server.url)

    # The first turn replaces the welcome; the second fills its turn's container.
    fake.script(Reply(FIRST, chunk_size=7))
    send(page, "Plan my trip")
    wait_idle(page, 1)
    assert copy_reply(page, 0) == FIRST
    button = page.locator(FINISHED).nth(0).locator(f"{COPY} button")
    expect(button).to_have_attribute("aria-label", "Copied")

    fake.script(Reply(SECOND, chunk_size=5))
    send(page, "Some code")
    wait_idle(page, 2)
    assert copy_reply(page, 1) == SECOND

    # An error has no copy button.
    fake.script(Error(500, "upstream exploded", "server_error"))
    send(page, "Again")
    expect(page.locator(".chat-message-error")).to_have_count(1, timeout=15_000)
    wait_idle(page, 2)
    expect(page.locator(f".chat-message-error {COPY}")).to_have_count(0)
    expect(page.locator(f".chat-message-user {COPY}")).to_have_count(0)
    expect(page.locator(COPY)).to_have_count(2)

    # The thread drawn whole after a reload copies the same text.
    page.reload()
    wait_idle(page, 2)
    expect(page.locator(COPY)).to_have_count(2)
    assert copy_reply(page, 1) == SECOND
    assert copy_reply(page, 0) == FIRST
    # Nothing of the reply ran as script, neither drawn nor copied.
    assert page.evaluate("window.__ran") is None


def test_copy_confirms_in_chinese(app_server, open_page, fake):
    page = open_page(app_server.url, locale="zh-CN")
    allow_clipboard(page, app_server.url)
    fake.script(Reply("你好，**世界**"))
    send(page, "打个招呼")
    wait_idle(page, 1)
    button = page.locator(f"{FINISHED} {COPY} button")
    expect(button).to_have_attribute("aria-label", "复制回答（Markdown）")
    assert copy_reply(page, 0) == "你好，**世界**"
    expect(button).to_have_attribute("aria-label", "已复制")


LONG = "\n\n".join(f"Paragraph {i}: " + "streaming words " * 10 for i in range(1, 61))


def at_bottom(page: Page) -> bool:
    return page.eval_on_selector("#chat-messages", AT_BOTTOM)


AT_BOTTOM = "el => el.scrollHeight - el.scrollTop - el.clientHeight < 80"


def wait_at_bottom(page: Page) -> None:
    """The thread reaches its bottom (a jump or the following may take a frame or two)."""
    page.wait_for_function(
        f"() => ({AT_BOTTOM})(document.getElementById('chat-messages'))", timeout=5_000
    )


def settled_top(page: Page) -> int:
    """The thread's scrollTop once a wheel's scrolling has stopped: the same for 10 frames."""
    return page.evaluate(
        """() => new Promise((resolve) => {
            const el = document.getElementById("chat-messages");
            let last = el.scrollTop, same = 0;
            const tick = () => {
                if (el.scrollTop === last) same += 1;
                else { last = el.scrollTop; same = 0; }
                if (same >= 10) resolve(last);
                else requestAnimationFrame(tick);
            };
            requestAnimationFrame(tick);
        })"""
    )


def scroll_up(page: Page) -> None:
    box = page.locator("#chat-messages").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -1200)


def test_jump_to_the_newest_message_while_a_reply_streams(app_server, open_page, fake):
    hold = threading.Event()
    # About a quarter of the reply (enough to overflow the thread), then a pause the test
    # ends, then the rest, slowly enough to act while it streams.
    fake.script(Reply(LONG, chunk_size=40, delay=0.02, stall_after=70, hold=hold))
    page = open_page(app_server.url)
    jump = page.locator("#chat-jump-newest")
    try:
        send(page, "Tell me a long story")
        live = page.locator("#chat-live-reply")
        expect(live).to_contain_text("Paragraph 14", timeout=15_000)
        expect(jump).to_be_hidden()  # following the reply, at the bottom
        expect(live.locator(COPY)).to_have_count(0)  # the live bubble has no copy

        scroll_up(page)
        expect(jump).to_be_visible()
        expect(jump).to_have_attribute("aria-label", "Jump to the newest message")
        jump.click()
        expect(jump).to_be_hidden()
        wait_at_bottom(page)

        # Scrolled up, the thread stays put while the reply grows.
        scroll_up(page)
        expect(jump).to_be_visible()
        top = settled_top(page)
        hold.set()
        expect(live).to_contain_text("Paragraph 30", timeout=15_000)
        assert page.eval_on_selector("#chat-messages", "el => el.scrollTop") == top
        assert not at_bottom(page)
        expect(jump).to_be_visible()

        # The button brings it down, and the thread follows the reply again to its end.
        expect(page.locator("#chat-stop-button")).to_be_visible()
        jump.click()
        expect(jump).to_be_hidden()
        wait_at_bottom(page)
        expect(live).to_contain_text("Paragraph 40", timeout=15_000)
        wait_at_bottom(page)
    finally:
        hold.set()
    wait_idle(page, 1)
    wait_at_bottom(page)
    expect(jump).to_be_hidden()
