"""A reply that does not fit whole in what is left of the user's day, in headless Chromium: it
is asked for with what is left as its max_tokens, and the thread says the day ran out."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from services.accounts import Accounts
from services.records.repository import Records
from tests.e2e.test_chat_page import send, wait_idle
from tests.e2e.test_quota_page import signed_in
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def quota_app(start_app, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('quota-cut')}/chat.db"
    records = Records(url)
    records.upgrade()
    Accounts(records).add_user("pupil", "pupil-password")
    records.close()
    return start_app(ACCOUNTS="true", DATABASE_URL=url, USER_DAILY_TOKENS="1000")


def test_a_reply_cut_at_what_is_left_says_the_days_tokens_ran_out(quota_app, browser, fake):
    page = signed_in(browser, quota_app.url, "pupil")
    fake.script(Reply("The beginning of a long story", finish_reason="length"))
    send(page, "Tell me a long story")
    wait_idle(page, 1)
    note = page.locator(".chat-message-assistant .chat-reply-note")
    expect(note).to_have_text(
        "Today's tokens ran out, so the reply was cut short. More tokens come at the daily reset."
    )
    [asked] = fake.requests
    # MAX_REPLY_TOKENS does not fit in the day's 1,000: the model got what the prompt leaves.
    sent = asked.body.get("max_completion_tokens") or asked.body.get("max_tokens")
    assert 0 < sent < 1000
    page.context.close()
