"""ACCESS_PASSWORD, the CSP and the abuse limits as a user meets them, in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

# Report every CSP violation to the console, where the test collects them.
CSP_SPY = """
document.addEventListener("securitypolicyviolation", (e) =>
    console.log("CSP-VIOLATION " + e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture(scope="module")
def locked_app(start_app):
    return start_app(ACCESS_PASSWORD="class-2026,teacher")


def fresh_page(browser, url: str, *, locale: str = "en-US") -> tuple[Page, list[str]]:
    context = browser.new_context(locale=locale, viewport={"width": 1100, "height": 760})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(CSP_SPY)
    page.goto(url)
    return page, console


def sign_in(page: Page, password: str) -> None:
    page.fill("#login-password", password)
    page.click("#login-submit")


def send(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def test_login_chat_under_the_csp_and_logout(locked_app, browser, fake):
    page, console = fresh_page(browser, locked_app.url)
    try:
        # The login screen comes first; a wrong password says so and keeps the form.
        expect(page.locator("#login-form")).to_be_visible()
        expect(page.locator(".chat-welcome")).to_have_count(0)
        sign_in(page, "class-2025")
        expect(page.locator("[role=alert]")).to_have_text(re.compile("Wrong password"))

        sign_in(page, "teacher")
        expect(page.locator(".chat-welcome")).to_be_visible(timeout=20_000)

        # The whole chat works under the CSP: streaming, Markdown, code highlighting, tables.
        fake.script(Reply("**Bold** and `code`\n\n```python\nprint(1)\n```\n\n| a |\n|---|\n| 1 |"))
        send(page, "hello")
        reply = page.locator(".chat-message-assistant:not(.chat-message-live)")
        expect(reply).to_have_count(1, timeout=15_000)
        expect(reply.locator("strong")).to_have_text("Bold")
        expect(reply.locator("table")).to_be_visible()
        violations = [line for line in console if line.startswith("CSP-VIOLATION")]
        assert violations == []

        page.click("#header-logout-button")
        expect(page.locator("#login-form")).to_be_visible()
        # The session is gone for the app's routes too, not only for the page.
        response = page.request.get(locked_app.url + "/_dash-layout")
        assert response.status == 401
    finally:
        page.context.close()


def test_over_the_hourly_limit_the_page_says_how_long_to_wait(start_app, browser, fake):
    limited = start_app(MAX_REQUEST_PER_HOUR="1")
    page, _ = fresh_page(browser, limited.url, locale="zh-CN")
    try:
        expect(page.locator(".chat-welcome")).to_be_visible(timeout=20_000)
        fake.script(Reply("第一条回复"))
        send(page, "第一个问题")
        expect(page.locator(".chat-message-assistant:not(.chat-message-live)")).to_have_count(
            1, timeout=15_000
        )
        send(page, "第二个问题")
        error = page.locator(".chat-message-error")
        expect(error).to_contain_text("每小时的消息上限", timeout=15_000)
        expect(error).to_contain_text(re.compile(r"\d+ 分钟后可以再发送"))
        # The question is kept, with Retry, and the composer is free again.
        expect(page.locator(".chat-message-user").last).to_contain_text("第二个问题")
        expect(error.locator(".chat-retry-button")).to_be_visible()
        expect(page.locator("#chat-input")).to_be_enabled()
        assert len(fake.requests) == 1
    finally:
        page.context.close()
