"""Keyboard shortcuts and installing the app, in headless Chromium."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_chat_page import LONG_REPLY, send, wait_idle
from tests.e2e.test_message_actions_page import allow_clipboard
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

DIALOG = ".shortcuts-dialog"
STOP = "#chat-stop-button"
SECOND = "The *second* reply:\n\n- one\n- two\n"

# Counts clicks on Stop as they happen: a shortcut clicks it in its keydown handler, so a key
# that did not click it can be told at once, without waiting for nothing to happen.
COUNT_STOP_CLICKS = """() => {
    window.__stops = 0;
    document.getElementById("chat-stop-button")
        .addEventListener("click", () => { window.__stops += 1; }, true);
}"""
# Records every property the page's scripts set on a component (how keys.js opens the dialog).
SPY_SET_PROPS = """() => {
    window.__set = [];
    const original = window.dash_clientside.set_props;
    window.dash_clientside.set_props = (id, props) => {
        window.__set.push(id);
        return original(id, props);
    };
}"""


def press_escape_composing(page: Page) -> None:
    """An Esc an input method takes (it cancels the composition), as Chromium sends it."""
    page.evaluate(
        """() => {
            const target = document.activeElement || document.body;
            for (const init of [{isComposing: true}, {keyCode: 229}]) {
                target.dispatchEvent(new KeyboardEvent("keydown", {
                    key: "Escape", code: "Escape", bubbles: true, cancelable: true, ...init,
                }));
            }
        }"""
    )


def stop_clicks(page: Page) -> int:
    return page.evaluate("window.__stops")


def test_esc_stops_a_streaming_reply_but_not_while_composing_or_closing_a_dialog(
    app_server, open_page, fake
):
    hold = threading.Event()
    fake.script(Reply(LONG_REPLY, chunk_size=40, stall_after=2, hold=hold))
    page = open_page(app_server.url)
    page.evaluate(COUNT_STOP_CLICKS)
    page.keyboard.press("Escape")  # nothing streams: nothing to stop
    assert stop_clicks(page) == 0
    try:
        send(page, "Tell me a long story")
        expect(page.locator(STOP)).to_be_visible(timeout=10_000)
        expect(page.locator("#chat-live-reply")).to_contain_text("Paragraph 1")

        press_escape_composing(page)
        assert stop_clicks(page) == 0

        # Esc that closes the shortcuts dialog closes only the dialog.
        page.keyboard.press("Control+/")
        expect(page.locator(DIALOG)).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator(DIALOG)).to_be_hidden()
        assert stop_clicks(page) == 0
        expect(page.locator(STOP)).to_be_visible()

        page.keyboard.press("Escape")
        assert stop_clicks(page) == 1
        # Stopped while the model still held the rest back.
        wait_idle(page, 1)
        stopped = page.locator(".chat-message-assistant").last
        expect(stopped).to_contain_text("You stopped this reply.")
        assert fake.requests[-1].client_disconnected.wait(5), "the upstream request was not closed"
    finally:
        hold.set()
    assert "Paragraph 24" not in stopped.inner_text()


def test_shortcuts_copy_the_last_reply_focus_the_box_and_start_a_new_chat(
    app_server, open_page, fake
):
    page = open_page(app_server.url)
    allow_clipboard(page, app_server.url)
    fake.script(Reply("The **first** reply."), Reply(SECOND))
    send(page, "one")
    wait_idle(page, 1)
    send(page, "two")
    wait_idle(page, 2)

    page.evaluate("navigator.clipboard.writeText('(nothing copied)')")
    page.keyboard.press("Control+Shift+C")
    page.wait_for_function(
        "async () => (await navigator.clipboard.readText()) !== '(nothing copied)'",
        timeout=5_000,
    )
    assert page.evaluate("navigator.clipboard.readText()") == SECOND

    box = page.locator("#chat-input")
    page.evaluate("document.activeElement.blur()")
    expect(box).not_to_be_focused()
    page.keyboard.press("Shift+Escape")
    expect(box).to_be_focused()
    page.keyboard.type("typed straight in")
    expect(box).to_have_value("typed straight in")

    page.keyboard.press("Control+Shift+O")
    expect(page.locator(".chat-welcome")).to_be_visible()
    expect(page.locator(".chat-message")).to_have_count(0)


def test_question_mark_opens_the_help_except_while_typing(app_server, open_page):
    page = open_page(app_server.url)
    page.evaluate(SPY_SET_PROPS)

    page.click("#chat-input")
    page.keyboard.type("why?")
    expect(page.locator("#chat-input")).to_have_value("why?")
    assert page.evaluate("window.__set") == []

    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("?")
    dialog = page.locator(DIALOG)
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Keyboard shortcuts")
    expect(dialog).to_contain_text("Copy the last reply")
    # Linux: Ctrl, not ⌘.
    expect(dialog.locator("kbd .keys-ctrl").first).to_be_visible()
    expect(dialog.locator("kbd .keys-cmd").first).to_be_hidden()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


MAC = """
Object.defineProperty(navigator, "userAgentData", {get: () => ({platform: "macOS"})});
Object.defineProperty(navigator, "platform", {get: () => "MacIntel"});
"""


def test_on_a_mac_the_shortcuts_use_and_show_command(app_server, browser, fake):
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
    try:
        context.add_init_script(MAC)
        page = context.new_page()
        page.goto(app_server.url)
        fake.script(Reply("Hello there."))
        send(page, "hi")
        wait_idle(page, 1)

        page.keyboard.press("Control+Shift+O")  # Ctrl is not the Mac's modifier
        page.keyboard.press("Meta+/")
        dialog = page.locator(DIALOG)
        expect(dialog).to_be_visible()
        expect(page.locator(".chat-message")).to_have_count(2)
        expect(dialog.locator("kbd .keys-cmd").first).to_be_visible()
        expect(dialog.locator("kbd .keys-ctrl").first).to_be_hidden()
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

        page.keyboard.press("Meta+Shift+O")
        expect(page.locator(".chat-welcome")).to_be_visible()
    finally:
        context.close()


def test_the_help_in_chinese_is_reached_from_the_settings_too(app_server, open_page):
    page = open_page(app_server.url, locale="zh-CN")
    page.click("#header-settings-button")
    page.click("#settings-shortcuts-button")
    dialog = page.locator(DIALOG)
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("键盘快捷键")
    expect(dialog).to_contain_text("复制最后一条回复")
    expect(page.locator("#settings-drawer")).to_be_hidden()


def test_chromium_sees_an_installable_manifest(app_server, open_page):
    page = open_page(app_server.url)
    checked = page.evaluate(
        """async () => {
            const link = document.querySelector('link[rel="manifest"]');
            const response = await fetch(link.href, {credentials: "omit"});
            const manifest = await response.json();
            const icons = [];
            for (const icon of manifest.icons) {
                const url = new URL(icon.src, response.url);
                const answer = await fetch(url, {credentials: "omit"});
                const bytes = new DataView(await answer.arrayBuffer());
                icons.push({
                    ...icon, status: answer.status, type: answer.headers.get("content-type"),
                    size: `${bytes.getUint32(16)}x${bytes.getUint32(20)}`,
                });
            }
            return {type: response.headers.get("content-type"), manifest, icons,
                    start: new URL(manifest.start_url, response.url).href};
        }"""
    )
    manifest = checked["manifest"]
    assert checked["type"] == "application/manifest+json"
    assert manifest["name"] == "ChatGPT"
    assert manifest["display"] == "standalone"
    assert checked["start"] == app_server.url + "/"
    assert {(i["sizes"], i["purpose"]) for i in checked["icons"]} == {
        ("192x192", "any"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    }
    for icon in checked["icons"]:
        assert (icon["status"], icon["type"], icon["size"]) == (200, "image/png", icon["sizes"])

    # Chromium's own reading of it: parsed without errors, nothing stopping an install.
    cdp = page.context.new_cdp_session(page)
    read = cdp.send("Page.getAppManifest")
    assert read["errors"] == [], read["errors"]
    assert read["url"].endswith("/manifest.webmanifest")
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's browser contexts are off the record, where nothing installs; that aside,
    # Chromium finds nothing missing (a suitable icon, a name, display, start_url).
    assert [e for e in errors if e["errorId"] != "in-incognito"] == [], errors
