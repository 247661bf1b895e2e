"""Personas, token counts and cost, as a user meets them in the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from services.personas import load_personas, localized, system_prompt
from tests.e2e.conftest import REPO
from tests.e2e.test_chat_page import send, wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

PERSONAS = load_personas(REPO / "personas.yaml")


def pick_persona(page: Page, name: str) -> None:
    page.locator(".ant-select:has(#persona-select)").click()
    page.locator(".ant-select-item-option", has_text=name).click()


def use_custom_prompt(page: Page, prompt: str) -> None:
    """Pick "Custom…" and write its system prompt in ⚙ Settings."""
    pick_persona(page, "Custom…")
    page.click("#header-settings-button")
    page.fill("#persona-custom-prompt", prompt)
    page.keyboard.press("Escape")


def system_of(request) -> str | None:
    first = request.body["messages"][0]
    return first["content"] if first["role"] == "system" else None


def test_picking_a_persona_shows_its_greeting_and_sends_its_prompt(app_server, open_page, fake):
    teacher = PERSONAS.get("teacher")
    page = open_page(app_server.url)
    expect(page.locator(".chat-message-greeting")).to_have_count(0)  # the general assistant
    pick_persona(page, "Teacher")
    greeting = page.locator(".chat-message-greeting")
    expect(greeting).to_contain_text(localized(teacher.greeting, "en")[:40])

    send(page, "Help me with fractions")
    wait_idle(page, 1)
    request = fake.requests[-1]
    assert system_of(request) == system_prompt(teacher, "en")
    # The greeting is shown, never sent.
    assert all(
        localized(teacher.greeting, "en") not in m["content"] for m in request.body["messages"]
    )
    # The persona is fixed for this conversation; clearing frees it again.
    expect(page.locator(".ant-select:has(#persona-select)")).to_have_class(re.compile("disabled"))
    page.click("#clear-history-button")
    page.locator(".ant-popconfirm").get_by_role("button", name="Clear").click()
    expect(page.locator(".ant-select:has(#persona-select)")).not_to_have_class(
        re.compile("disabled")
    )


def test_a_custom_persona_sends_the_users_own_prompt(app_server, open_page, fake):
    page = open_page(app_server.url)
    use_custom_prompt(page, "You are a pirate librarian.")
    send(page, "Recommend a book")
    wait_idle(page, 1)
    assert system_of(fake.requests[-1]) == "You are a pirate librarian."


def test_reply_tokens_and_the_running_cost_are_shown(app_server, open_page, fake):
    usage = {"prompt_tokens": 1200, "completion_tokens": 800, "total_tokens": 2000}
    fake.script(Reply("First answer", usage=usage), Reply("Second answer", usage=usage))
    page = open_page(app_server.url)
    send(page, "one")
    wait_idle(page, 1)
    reply = page.locator(".chat-message-assistant").last
    expect(reply.locator(".chat-usage")).to_contain_text("1200 prompt + 800 reply tokens")
    # gpt-4o-mini at $0.15 / $0.60 per million: 1200 x 0.15 + 800 x 0.60 = $0.00066.
    expect(page.locator("#header-usage")).to_have_text("2,000 tokens · ≈ $0.0007")
    send(page, "two")
    wait_idle(page, 2)
    expect(page.locator("#header-usage")).to_have_text("4,000 tokens · ≈ $0.0013")


def test_the_next_requests_size_is_estimated_while_typing(app_server, open_page):
    page = open_page(app_server.url)
    estimate = page.locator("#composer-estimate")
    page.fill("#chat-input", "hello")
    expect(estimate).to_contain_text(re.compile(r"≈ \d+ tokens will be sent"), timeout=5_000)
    short = int(re.search(r"(\d+) tokens", estimate.inner_text()).group(1))
    page.fill("#chat-input", "hello " * 200)
    expect(estimate).not_to_contain_text(f"≈ {short} tokens")
    long = int(re.search(r"([\d,]+) tokens", estimate.inner_text()).group(1).replace(",", ""))
    assert long > short + 150
    page.press("#chat-input", "Enter")
    expect(estimate).to_have_text("")  # sent: nothing is pending any more


def test_a_locked_deployment_offers_no_other_role(start_app, open_page, fake):
    wellness = PERSONAS.get("wellness")
    app = start_app(PERSONA_LOCK="wellness")
    page = open_page(app.url)
    expect(page.locator(".ant-select:has(#persona-select)")).to_be_hidden()
    expect(page.locator(".chat-message-greeting")).to_contain_text("wellness adviser")
    page.click("#header-settings-button")
    expect(page.locator("#persona-custom-prompt")).to_be_hidden()
    page.keyboard.press("Escape")
    send(page, "How can I sleep better?")
    wait_idle(page, 1)
    assert system_of(fake.requests[-1]) == system_prompt(wellness, "en")
