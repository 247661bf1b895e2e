"""A conversation keeps its persona in the page (issue 15): switching chats in the sidebar,
reloading, and New chat, with the server's records and with the browser's own copy."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from components.welcome import EXAMPLES
from i18n import t
from services.personas import examples, system_prompt
from tests.e2e.test_chat_page import send, wait_idle
from tests.e2e.test_personas_page import PERSONAS, pick_persona, system_of, use_custom_prompt

pytestmark = pytest.mark.e2e

PICKER = ".ant-select:has(#persona-select)"


def picker_shows(page: Page, name: str) -> None:
    expect(page.locator(f"{PICKER} .ant-select-selection-item")).to_contain_text(name)


def start_chat(page: Page, persona: str, question: str) -> None:
    """New chat, pick `persona`, ask `question` and wait for the reply."""
    page.click("#sidebar-new-button")
    expect(page.locator(".chat-welcome")).to_be_visible()
    pick_persona(page, persona)
    picker_shows(page, persona)
    send(page, question)
    wait_idle(page, 1)


@pytest.mark.parametrize("records_on", [True, False], ids=["records-on", "records-off"])
def test_going_back_to_a_chat_goes_back_to_its_persona(
    records_on, app_server, start_app, open_page, fake, tmp_path
):
    app = app_server
    if not records_on:
        app = start_app(RECORDS_ENABLED="false", DATABASE_URL=f"sqlite:///{tmp_path}/unused.db")
    general, wellness = PERSONAS.get("general"), PERSONAS.get("wellness")
    page = open_page(app.url)
    start_chat(page, "General assistant", "Question for A")
    assert system_of(fake.requests[-1]) == system_prompt(general, "en")
    start_chat(page, "Wellness adviser", "Question for B")
    assert system_of(fake.requests[-1]) == system_prompt(wellness, "en")

    page.locator(".sidebar-title", has_text="Question for A").click()
    expect(page.locator(".chat-message-user .chat-user-text")).to_have_text(["Question for A"])
    picker_shows(page, "General assistant")
    expect(page.locator(PICKER)).to_have_class(re.compile("disabled"))
    send(page, "Follow-up in A")
    wait_idle(page, 2)
    request = fake.requests[-1]
    assert [m["content"] for m in request.body["messages"] if m["role"] == "user"] == [
        "Question for A",
        "Follow-up in A",
    ]
    assert system_of(request) == system_prompt(general, "en")

    # B, opened again and after a reload, is still the wellness adviser's.
    page.locator(".sidebar-title", has_text="Question for B").click()
    picker_shows(page, "Wellness adviser")
    page.reload()
    expect(page.locator(".chat-message-user .chat-user-text")).to_have_text(["Question for B"])
    picker_shows(page, "Wellness adviser")
    expect(page.locator(PICKER)).to_have_class(re.compile("disabled"))
    send(page, "Follow-up in B")
    wait_idle(page, 2)
    assert system_of(fake.requests[-1]) == system_prompt(wellness, "en")

    # New chat picks afresh: the default persona, free to change.
    page.click("#sidebar-new-button")
    expect(page.locator(".chat-welcome")).to_be_visible()
    picker_shows(page, "General assistant")
    expect(page.locator(PICKER)).not_to_have_class(re.compile("disabled"))


def test_a_custom_chat_keeps_its_own_prompt(app_server, open_page, fake):
    page = open_page(app_server.url)
    use_custom_prompt(page, "You are a pirate librarian.")
    send(page, "Recommend a book")
    wait_idle(page, 1)
    start_chat(page, "Teacher", "Fractions, please")

    # Meanwhile the box was edited for some later chat.
    page.click("#header-settings-button")
    page.fill("#persona-custom-prompt", "You are a ninja.")
    page.keyboard.press("Escape")

    page.locator(".sidebar-title", has_text="Recommend a book").click()
    picker_shows(page, "Custom…")
    expect(page.locator("#persona-custom-prompt")).to_have_value("You are a pirate librarian.")
    expect(page.locator("#persona-custom-prompt")).to_be_disabled()
    send(page, "Another one?")
    wait_idle(page, 2)
    assert system_of(fake.requests[-1]) == "You are a pirate librarian."


def test_the_example_cards_are_the_current_personas_own(app_server, open_page):
    page = open_page(app_server.url)
    cards = page.locator(".chat-example")
    expect(cards).to_have_text(examples(PERSONAS.get("general"), "en"))
    pick_persona(page, "Teacher")
    teacher = examples(PERSONAS.get("teacher"), "en")
    expect(cards).to_have_text(teacher)
    cards.first.click()
    expect(page.locator("#chat-input")).to_have_value(teacher[0])

    page = open_page(app_server.url, locale="zh-CN")
    pick_persona(page, "养生顾问")
    expect(page.locator(".chat-example")).to_have_text(examples(PERSONAS.get("wellness"), "zh-cn"))
    # The custom persona has no examples of its own: the generic ones show.
    pick_persona(page, "自定义…")
    expect(page.locator(".chat-example")).to_have_text([t("zh-cn", key) for key in EXAMPLES])


def test_a_turn_that_names_another_persona_is_refused_in_plain_words(app_server, open_page, fake):
    """A page that is out of date (another tab, an old script) cannot switch a chat's persona:
    the server refuses, the page says why, and the model is not asked."""
    page = open_page(app_server.url)
    start_chat(page, "General assistant", "Question for A")
    asked = len(fake.requests)

    def as_wellness(route):
        body = json.loads(route.request.post_data)
        body["turn"]["persona"] = "wellness"
        route.continue_(post_data=json.dumps(body))

    page.route("**/api/chat/stream", as_wellness)
    send(page, "Now as the wellness adviser")
    expect(page.locator(".chat-message-error")).to_contain_text(
        "This chat keeps the persona it was started with"
    )
    assert len(fake.requests) == asked
    page.unroute("**/api/chat/stream")
    # Nothing of the refused turn is on record: the chat opens from the server as it was.
    page.evaluate("localStorage.clear()")
    page.reload()
    page.locator(".sidebar-title", has_text="Question for A").click()
    expect(page.locator(".chat-message-user .chat-user-text")).to_have_text(["Question for A"])
    expect(page.locator(".chat-message-error")).to_have_count(0)


def test_an_imported_chat_goes_on_with_the_persona_shown_and_keeps_it(
    app_server, open_page, fake, tmp_path
):
    page = open_page(app_server.url)
    start_chat(page, "Wellness adviser", "How long should I sleep?")
    with page.expect_download() as download_info:
        page.click("#export-markdown-button")
    exported = tmp_path / "sleep.md"
    download_info.value.save_as(exported)

    other = open_page(app_server.url)  # another browser, which picks the teacher first
    pick_persona(other, "Teacher")
    other.set_input_files("#sidebar-import input[type=file]", str(exported))
    expect(other.locator(".chat-message-user .chat-user-text")).to_have_text(
        ["How long should I sleep?"]
    )
    picker_shows(other, "Teacher")
    expect(other.locator(PICKER)).to_have_class(re.compile("disabled"))
    send(other, "And on weekends?")
    wait_idle(other, 2)
    teacher = PERSONAS.get("teacher")
    assert system_of(fake.requests[-1]) == system_prompt(teacher, "en")

    # Its next question fixed it: after New chat (the default persona), it opens as the teacher's.
    other.click("#sidebar-new-button")
    picker_shows(other, "General assistant")
    other.locator(".sidebar-title", has_text="How long should I sleep?").click()
    picker_shows(other, "Teacher")
