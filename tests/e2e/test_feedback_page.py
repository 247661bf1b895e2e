"""👍 / 👎 on replies (issue 17 §3), in headless Chromium against the fake upstream: stored
with the reply on the server, chosen again after a reload, from the sidebar and across
versions, with a 👎's comment kept as text, and in the export. Records off: no buttons."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from services.accounts import Accounts
from services.records import Records
from tests.e2e.test_chat_page import send, wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

REPLIES = "#chat-history-list .chat-message-assistant"
HOSTILE = '<img src=x onerror="window.__ran = 1">'


def rated(records: Records) -> list[tuple]:
    """(reply, feedback, comment) of every reply on record."""
    return [
        (row["content"], row["feedback"], row["feedback_comment"])
        for row in records.export()
        if row["role"] == "assistant"
    ]


def click_and_store(page: Page, button) -> dict:
    """Click a feedback button; what the server answered it stored."""
    with page.expect_response(lambda r: r.url.endswith("/api/chat/feedback")) as answer:
        button.click()
    assert answer.value.status == 200
    return answer.value.json()


def expect_chosen(reply, up: bool, down: bool) -> None:
    expect(reply.locator(".chat-feedback-up")).to_have_attribute("aria-pressed", str(up).lower())
    expect(reply.locator(".chat-feedback-down")).to_have_attribute(
        "aria-pressed", str(down).lower()
    )


def test_feedback_is_kept_with_the_reply_on_the_server(start_app, open_page, fake, tmp_path):
    url = f"sqlite:///{tmp_path}/feedback.db"
    app = start_app(DATABASE_URL=url)
    records = Records(url)
    page = open_page(app.url)
    fake.script(Reply("First answer"), Reply("Second answer"), Reply("Regenerated answer"))
    send(page, "Plan a trip")
    wait_idle(page, 1)
    send(page, "Shorter, please")
    wait_idle(page, 2)
    first, second = page.locator(REPLIES).nth(0), page.locator(REPLIES).nth(1)
    expect(first.locator(".chat-feedback-up")).to_have_attribute("aria-label", "Good reply")
    expect(first.locator(".chat-feedback-down")).to_have_attribute("aria-label", "Bad reply")
    expect_chosen(first, False, False)

    # 👍 on the first reply: stored with it, and chosen after a reload.
    assert click_and_store(page, first.locator(".chat-feedback-up"))["feedback"] == "up"
    expect_chosen(first, True, False)
    assert rated(records) == [("First answer", "up", None), ("Second answer", None, None)]
    page.reload()
    wait_idle(page, 2)
    expect_chosen(page.locator(REPLIES).nth(0), True, False)
    expect_chosen(page.locator(REPLIES).nth(1), False, False)

    # 👎 on the second, with a comment (Enter saves it): the record has it, as text.
    second = page.locator(REPLIES).nth(1)
    assert click_and_store(page, second.locator(".chat-feedback-down"))["feedback"] == "down"
    box = second.locator(".chat-feedback-comment")
    expect(box).to_be_focused()
    box.fill(HOSTILE)
    with page.expect_response(lambda r: r.url.endswith("/api/chat/feedback")) as answer:
        box.press("Enter")
    assert answer.value.json()["feedback_comment"] == HOSTILE
    expect(box).to_have_count(0)
    expect(second.locator(".chat-feedback-down")).to_be_focused()  # the keyboard goes back
    expect_chosen(second, False, True)
    assert rated(records) == [("First answer", "up", None), ("Second answer", "down", HOSTILE)]
    assert page.evaluate("window.__ran") is None
    expect(page.locator("#chat-history-list img")).to_have_count(0)

    # The export (the page's thread) shows both, the comment as text.
    with page.expect_download() as download:
        page.click("#export-markdown-button")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "First answer\n\n<!-- chat-feedback -->\nFeedback: 👍\n" in text
    assert r'Feedback: 👎 — \<img src=x onerror="window.\_\_ran = 1"\>' in text
    assert HOSTILE not in text

    # Opened from the sidebar, the choices are there.
    page.click("#sidebar-new-button")
    expect(page.locator(".chat-welcome")).to_be_visible()
    page.locator(".sidebar-title", has_text="Plan a trip").click()
    wait_idle(page, 2)
    expect_chosen(page.locator(REPLIES).nth(0), True, False)
    expect_chosen(page.locator(REPLIES).nth(1), False, True)

    # Regenerate: the new answer is unrated; the rated one, a version back, keeps its 👎.
    page.locator(f"{REPLIES} .chat-regenerate-button").locator("visible=true").click()
    expect(page.locator(REPLIES).nth(1)).to_contain_text("Regenerated answer", timeout=15_000)
    wait_idle(page, 2)
    expect_chosen(page.locator(REPLIES).nth(1), False, False)
    page.locator(".chat-version-prev").click()
    expect(page.locator(REPLIES).nth(1)).to_contain_text("Second answer")
    expect_chosen(page.locator(REPLIES).nth(1), False, True)

    # The chosen one again clears it; 👎 then Esc keeps the 👎 without a comment.
    second = page.locator(REPLIES).nth(1)
    assert click_and_store(page, second.locator(".chat-feedback-down"))["feedback"] is None
    expect_chosen(second, False, False)
    assert click_and_store(page, second.locator(".chat-feedback-down"))["feedback"] == "down"
    second.locator(".chat-feedback-comment").press("Escape")
    expect(page.locator(".chat-feedback-form")).to_have_count(0)
    expect_chosen(second, False, True)
    assert ("Second answer", "down", None) in rated(records)
    records.close()


def test_without_records_there_are_no_buttons(start_app, open_page, fake, tmp_path):
    app = start_app(RECORDS_ENABLED="false", DATABASE_URL=f"sqlite:///{tmp_path}/unused.db")
    page = open_page(app.url, locale="zh-CN")
    fake.script(Reply("答案"))
    send(page, "你好")
    wait_idle(page, 1)
    expect(page.locator(f"{REPLIES} .chat-copy-button")).to_have_count(1)
    expect(page.locator(".chat-feedback-up, .chat-feedback-down")).to_have_count(0)


def signed_in_page(browser, url: str, name: str, password: str) -> Page:
    """A fresh browser profile signed in as `name` (ACCOUNTS=true), on the chat page."""
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
    answer = context.request.post(f"{url}/login", data={"username": name, "password": password})
    assert answer.ok, answer.text()
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector(".chat-welcome, .chat-message", timeout=20_000)
    return page


def test_with_accounts_the_choice_follows_the_user_to_another_browser(
    start_app, browser, fake, tmp_path
):
    url = f"sqlite:///{tmp_path}/accounts.db"
    records = Records(url)
    records.upgrade()
    accounts = Accounts(records)
    accounts.add_user("amy", "amy-password")
    accounts.add_user("bob", "bob-password")
    app = start_app(ACCOUNTS="true", DATABASE_URL=url)

    page = signed_in_page(browser, app.url, "amy", "amy-password")
    try:
        fake.script(Reply("An answer for amy"))
        send(page, "Amy asks")
        wait_idle(page, 1)
        reply = page.locator(REPLIES).nth(0)
        assert click_and_store(page, reply.locator(".chat-feedback-down"))["feedback"] == "down"
        reply.locator(".chat-feedback-comment").fill("Not for my class")
        reply.locator(".chat-feedback-send").click()
        expect(page.locator(".chat-feedback-form")).to_have_count(0)
        assert rated(records) == [("An answer for amy", "down", "Not for my class")]
    finally:
        page.context.close()

    # Amy on another computer: her conversation, with her choice.
    elsewhere = signed_in_page(browser, app.url, "amy", "amy-password")
    try:
        elsewhere.locator(".sidebar-title", has_text="Amy asks").click()
        wait_idle(elsewhere, 1)
        expect_chosen(elsewhere.locator(REPLIES).nth(0), False, True)
    finally:
        elsewhere.context.close()
    records.close()
