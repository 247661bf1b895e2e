"""The terminal chat's conversations in the page's sidebar: `/link` joins a browser to them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_chat_page import send, wait_idle
from tests.terminal import Terminal, chat_env

pytestmark = pytest.mark.e2e

LINK = re.compile(r"http://\S+/terminal/link\?token=\S+")


def test_a_browser_opening_the_link_sees_the_terminals_conversations(
    app_server, open_page, fake, tmp_path
):
    # The app's DATABASE_URL and SECRET_KEY (the tests' environment), as an operator starts
    # both from the same .env.
    chat = Terminal(chat_env(fake, tmp_path), "--url", app_server.url)
    chat.run("Which owls live in towns?")
    url = LINK.search(chat.run("/link")).group(0)
    chat.quit()

    # A browser with a conversation of its own opens the link.
    page = open_page(app_server.url)
    send(page, "My own question about bread")
    wait_idle(page, 1)
    page.goto(url)
    # Opening it only asks; nothing moves until the person says yes.
    expect(page.locator("#login-form")).to_contain_text("Show the terminal chat's conversations")
    page.click("#terminal-link-submit")
    page.wait_for_selector(".chat-welcome, .chat-message")

    titles = page.locator(".sidebar-title")
    expect(titles.filter(has_text="Which owls live in towns?")).to_have_count(1)
    # What the browser had came along.
    expect(titles.filter(has_text="My own question about bread")).to_have_count(1)
    titles.filter(has_text="Which owls live in towns?").click()
    expect(page.locator(".chat-message-assistant").last).to_contain_text(
        "Echo: Which owls live in towns?"
    )

    # And the other way: what the terminal asks next shows in that browser's sidebar.
    chat = Terminal(chat_env(fake, tmp_path), "--url", app_server.url)
    chat.run("Do owls sleep by day?")
    chat.quit()
    page.reload()
    expect(page.locator(".sidebar-title").filter(has_text="Do owls sleep by day?")).to_have_count(1)
