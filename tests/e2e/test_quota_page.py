"""A user's daily tokens in headless Chromium: what is left shows under the message box, and
a turn over the budget is refused in the thread without asking the model."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from services.accounts import Accounts
from services.records.repository import Records
from tests.e2e.test_chat_page import send, wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

USED = {"prompt_tokens": 60, "completion_tokens": 50, "total_tokens": 110}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}


@pytest.fixture(scope="module")
def quota_app(start_app, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('quota')}/chat.db"
    records = Records(url)
    records.upgrade()
    accounts = Accounts(records)
    accounts.add_user("pupil", "pupil-password")
    accounts.set_daily_tokens("pupil", 100)  # the user's own budget wins over the default
    accounts.add_user("teacher", "teacher-password")
    records.close()
    return start_app(ACCOUNTS="true", DATABASE_URL=url, USER_DAILY_TOKENS="5000")


def signed_in(browser, url: str, name: str, **options) -> Page:
    context = browser.new_context(
        locale="en-US", **({"viewport": {"width": 1100, "height": 760}} | options)
    )
    page = context.new_page()
    page.goto(url)
    page.fill("#login-username", name)
    page.fill("#login-password", f"{name}-password")
    page.click("#login-submit")
    page.wait_for_selector(".chat-welcome, .chat-message", timeout=20_000)
    return page


def test_the_header_counts_down_and_a_spent_day_is_refused_in_the_thread(quota_app, browser, fake):
    page = signed_in(browser, quota_app.url, "pupil")
    left = page.locator("#quota-left")
    expect(left).to_have_text("100 of 100 tokens left today")
    expect(left).to_be_visible()

    fake.script(Reply("Four.", usage=USED))
    send(page, "What is 2 + 2?")
    wait_idle(page, 1)
    expect(left).to_have_text("0 of 100 tokens left today")

    fake.script(Reply("This must not be asked."))
    send(page, "And 3 + 3?")
    notice = page.locator(".chat-message-error .chat-error-text")
    expect(notice).to_contain_text(
        "You have used today's 100 tokens. It resets at 00:00 UTC (in ", timeout=15_000
    )
    wait_idle(page, 1)
    # The question stays in the thread, and the model was never asked.
    expect(page.locator(".chat-message-user .chat-user-text").last).to_have_text("And 3 + 3?")
    assert len(fake.requests) == 1
    assert fake.pending == 1
    page.context.close()


def test_the_default_budget_shows_on_a_phone_under_the_message_box(quota_app, browser, fake):
    # USER_DAILY_TOKENS applies to the teacher, who has no budget of their own.
    page = signed_in(browser, quota_app.url, "teacher", **PHONE)
    left = page.locator("#quota-left")
    expect(left).to_have_text("5,000 of 5,000 tokens left today")
    expect(left).to_be_visible()
    # The header keeps its one row, and nothing scrolls sideways.
    assert page.locator(".app-header").bounding_box()["height"] <= 56
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.context.close()


def test_without_accounts_there_is_no_quota_and_no_request_for_it(app_server, open_page, fake):
    page = open_page(app_server.url)
    callbacks: list[str] = []
    page.on(
        "request",
        lambda request: (
            callbacks.append(request.post_data or "")
            if "_dash-update-component" in request.url
            else None
        ),
    )
    fake.script(Reply("Hello!"))
    send(page, "Hi")
    wait_idle(page, 1)
    expect(page.locator(".composer-estimate")).to_be_attached()
    expect(page.locator("#quota-left")).to_have_count(0)
    assert callbacks, "the turn made no callback at all: the test sees nothing"
    assert not [body for body in callbacks if "quota-left" in body]
