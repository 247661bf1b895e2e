"""Regenerate, edit and `‹ k / n ›` (issue 16), in headless Chromium against the fake upstream:
each costs the one request it asks for, with the context it should have, and the versions
survive a reload, with records on (the server) and off (the browser's copy)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_chat_page import conversation, send, wait_idle
from tests.fake_upstream import Error, Reply

pytestmark = pytest.mark.e2e

REPLIES = "#chat-history-list .chat-message-assistant"
QUESTIONS = "#chat-history-list .chat-message-user"


def said(role: str, text: str) -> dict:
    return {"role": role, "content": text}


def regenerate(page: Page) -> None:
    buttons = page.locator(f"{REPLIES} .chat-regenerate-button")
    expect(buttons.locator("visible=true")).to_have_count(1)
    buttons.locator("visible=true").click()


def edit(page: Page, question: int, text: str) -> None:
    page.locator(QUESTIONS).nth(question).locator(".chat-edit-button").click()
    box = page.locator(".chat-edit-input")
    expect(box).to_be_focused()
    box.fill(text)
    box.press("Enter")


def expect_version(message, shown: str) -> None:
    """`message` (a locator) shows `‹ k / n ›` as `shown` ("2 / 3")."""
    expect(message.locator(".chat-version-label")).to_have_text(shown)


def test_regenerate_and_edit_with_records_on(app_server, open_page, fake):
    page = open_page(app_server.url)
    fake.script(Reply("First answer"), Reply("Second answer"))
    send(page, "What is recursion?")
    wait_idle(page, 1)

    # Regenerate: the same question with the same context, once more; both answers stay.
    regenerate(page)
    expect(page.locator(REPLIES)).to_contain_text(["Second answer"], timeout=15_000)
    wait_idle(page, 1)
    first, second = fake.wait_for_requests(2)
    assert conversation(first) == conversation(second) == [said("user", "What is recursion?")]
    assert len(fake.requests) == 2
    expect(page.locator(f"{REPLIES} .chat-version-label")).to_have_text("2 / 2")
    expect(page.locator(".chat-version-next")).to_be_disabled()

    # The first answer is one click away, and it is the one the next question builds on.
    page.locator(".chat-version-prev").click()
    expect(page.locator(REPLIES)).to_contain_text(["First answer"])
    expect(page.locator(f"{REPLIES} .chat-version-label")).to_have_text("1 / 2")
    assert len(fake.requests) == 2  # switching asks nothing
    fake.script(Reply("Third answer"))
    send(page, "Shorter?")
    wait_idle(page, 2)
    asked = fake.wait_for_requests(3)[2]
    assert conversation(asked) == [
        said("user", "What is recursion?"),
        said("assistant", "First answer"),
        said("user", "Shorter?"),
    ]
    # Only the newest reply offers to regenerate.
    expect(
        page.locator(f"{REPLIES} .chat-regenerate-button").locator("visible=true")
    ).to_have_count(1)

    # Edit the second question: asked again with only the earlier turns as context.
    fake.script(Reply("Edited answer"))
    edit(page, 1, "Much shorter?")
    expect(page.locator(REPLIES).nth(1)).to_contain_text("Edited answer", timeout=15_000)
    wait_idle(page, 2)
    asked = fake.wait_for_requests(4)[3]
    assert conversation(asked) == [
        said("user", "What is recursion?"),
        said("assistant", "First answer"),
        said("user", "Much shorter?"),
    ]
    expect_version(page.locator(QUESTIONS).nth(1), "2 / 2")

    # A reload (the server's record) keeps the versions and the choices made.
    page.reload()
    wait_idle(page, 2)
    expect(page.locator(f"{QUESTIONS} .chat-user-text")).to_have_text(
        ["What is recursion?", "Much shorter?"]
    )
    expect_version(page.locator(REPLIES).nth(0), "1 / 2")
    page.locator(QUESTIONS).nth(1).locator(".chat-version-prev").click()
    expect(page.locator(QUESTIONS).nth(1)).to_contain_text("Shorter?")
    expect(page.locator(REPLIES).nth(1)).to_contain_text("Third answer")
    assert len(fake.requests) == 4

    # The export has the path shown.
    with page.expect_download() as download:
        page.click("#export-markdown-button")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Third answer" in text and "Edited answer" not in text and "Second answer" not in text
    assert "### Assistant (Version 1 of 2)\n\nFirst answer" in text
    assert "### You (Version 1 of 2)\n\nShorter?" in text


def test_versions_kept_in_the_browser_in_chinese(start_app, open_page, fake, tmp_path):
    app = start_app(RECORDS_ENABLED="false", DATABASE_URL=f"sqlite:///{tmp_path}/unused.db")
    page = open_page(app.url, locale="zh-CN")
    fake.script(Reply("答案一"), Reply("答案二"), Reply("答案三"), Reply("答案四"))
    send(page, "什么是递归？")
    wait_idle(page, 1)
    button = page.locator(f"{REPLIES} .chat-regenerate-button")
    expect(button).to_have_attribute("aria-label", "重新生成")
    regenerate(page)
    expect(page.locator(REPLIES)).to_contain_text(["答案二"], timeout=15_000)
    wait_idle(page, 1)
    first, second = fake.wait_for_requests(2)
    assert conversation(first) == conversation(second)
    expect(page.locator(".chat-version-prev")).to_have_attribute("aria-label", "上一个版本")

    # An empty edit is refused in plain words; Esc leaves the question as it was.
    page.locator(".chat-edit-button").click()
    page.locator(".chat-edit-input").fill("   ")
    page.locator(".chat-edit-send").click()
    expect(page.locator("#chat-notice")).to_contain_text("请先输入消息")
    page.locator(".chat-edit-input").press("Escape")
    expect(page.locator(".chat-edit-input")).to_have_count(0)
    expect(page.locator(f"{QUESTIONS} .chat-user-text")).to_have_text(["什么是递归？"])

    # Shift+Enter is a new line, and Enter picking an IME candidate sends nothing (either
    # would take the box away at once: sending closes it before it asks).
    page.locator(".chat-edit-button").click()
    box = page.locator(".chat-edit-input")
    box.fill("什么是")
    box.press("Shift+Enter")
    box.evaluate(
        """el => el.dispatchEvent(new KeyboardEvent("keydown", {
            key: "Enter", code: "Enter", keyCode: 229, isComposing: true,
            bubbles: true, cancelable: true}))"""
    )
    expect(box).to_have_value("什么是\n")
    page.locator(".chat-edit-cancel").click()
    expect(box).to_have_count(0)

    edit(page, 0, "什么是迭代？")
    expect(page.locator(REPLIES)).to_contain_text(["答案三"], timeout=15_000)
    wait_idle(page, 1)
    assert conversation(fake.wait_for_requests(3)[2]) == [said("user", "什么是迭代？")]
    expect_version(page.locator(QUESTIONS), "2 / 2")

    # A regenerate under an edited question: both keep showing their versions.
    regenerate(page)
    expect(page.locator(REPLIES)).to_contain_text(["答案四"], timeout=15_000)
    wait_idle(page, 1)
    expect_version(page.locator(REPLIES), "2 / 2")
    expect_version(page.locator(QUESTIONS), "2 / 2")

    # The browser's copy keeps the versions across a reload.
    page.reload()
    wait_idle(page, 1)
    expect_version(page.locator(QUESTIONS), "2 / 2")
    expect_version(page.locator(REPLIES), "2 / 2")
    page.locator(QUESTIONS).locator(".chat-version-prev").click()
    expect(page.locator(f"{QUESTIONS} .chat-user-text")).to_have_text(["什么是递归？"])
    expect(page.locator(REPLIES)).to_contain_text(["答案二"])
    expect_version(page.locator(REPLIES), "2 / 2")
    page.locator(QUESTIONS).locator(".chat-version-next").click()
    expect(page.locator(f"{QUESTIONS} .chat-user-text")).to_have_text(["什么是迭代？"])
    expect(page.locator(REPLIES)).to_contain_text(["答案四"])
    assert len(fake.requests) == 4


def test_a_retry_leaves_no_error_on_record_so_a_regenerate_asks_at_once(
    app_server, open_page, fake
):
    # A failed turn and its retry leave no error on record (the page drops it too), so the
    # positions a click names agree and a regenerate right after the retry asks at once.
    page = open_page(app_server.url)
    fake.script(Error(500, "upstream exploded", "server_error"), Reply("At last"), Reply("Again"))
    send(page, "Hello?")
    page.locator(".chat-retry-button").click(timeout=15_000)
    wait_idle(page, 1)
    expect(page.locator(".chat-message-error")).to_have_count(0)
    regenerate(page)
    expect(page.locator(REPLIES)).to_contain_text(["Again"], timeout=15_000)
    wait_idle(page, 1)
    assert conversation(fake.wait_for_requests(3)[2]) == [said("user", "Hello?")]
    expect(page.locator(".chat-message-error")).to_have_count(0)
    expect_version(page.locator(REPLIES), "2 / 2")
