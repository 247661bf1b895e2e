"""What a Chinese user notices (issue 15, point 6), in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e


def send(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")
    expect(page.locator(".chat-message-assistant:not(.chat-message-live)")).to_have_count(
        1, timeout=15_000
    )
    expect(page.locator("#chat-stop-button")).to_be_hidden()


def test_chinese_page_says_its_language_and_its_buttons_have_no_inserted_space(
    app_server, open_page
):
    page = open_page(app_server.url, locale="zh-CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.click("#clear-history-button")
    buttons = page.locator(".ant-popconfirm-buttons button")
    expect(buttons).to_have_count(2)
    # The rendered text, not the string the server sent: antd would have made it "取 消".
    expect(buttons.nth(0)).to_have_text("取消", use_inner_text=True)
    expect(buttons.nth(1)).to_have_text("清空", use_inner_text=True)
    expect(page.locator("#clear-history-button")).to_have_text("清空", use_inner_text=True)


def test_english_page_says_english(app_server, open_page):
    page = open_page(app_server.url, locale="en-US")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_sliders_show_their_values_and_follow_them(app_server, open_page):
    page = open_page(app_server.url)
    page.click("#header-settings-button")
    temperature = page.locator("#settings-temperature-value")
    expect(temperature).to_have_text("1.0")
    expect(page.locator("#settings-top-p-value")).to_have_text("1.00")

    page.click("#settings-custom-switch")
    page.locator("#settings-temperature .ant-slider-handle").focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(temperature).to_have_text("0.8")
    page.reload()  # the value comes back from the browser's storage, and so does its number
    page.click("#header-settings-button")
    expect(temperature).to_have_text("0.8")

    # The custom prompt's hint and the switch after it do not touch.
    hint = page.locator("#persona-custom-prompt").locator(
        "xpath=ancestor::div[contains(@class,'settings-field')]//div[@class='settings-hint']"
    )
    switch = page.locator(".settings-custom")
    gap = switch.bounding_box()["y"] - (hint.bounding_box()["y"] + hint.bounding_box()["height"])
    assert gap >= 16


def test_the_keys_hint_is_for_keyboards_only(app_server, open_page):
    page = open_page(app_server.url)
    expect(page.locator("#chat-input")).to_have_attribute("placeholder", "Message the assistant")
    expect(page.locator(".composer-keys")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 760})
    expect(page.locator(".composer-keys")).to_be_hidden()


def test_export_is_dated_in_the_browsers_time_zone(app_server, open_page, fake):
    fake.script(Reply("answer"))
    page = open_page(app_server.url, timezone_id="Asia/Shanghai")
    send(page, "when?")
    with page.expect_download() as download_info:
        page.click("#export-markdown-button")
    text = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert re.search(r"^- Exported: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00$", text, re.M), text


def test_the_phone_sidebar_covers_the_code_blocks_copy_buttons(app_server, open_page, fake):
    fake.script(Reply("Here:\n\n```python\nprint('hi')\n```\n"))
    page = open_page(app_server.url)
    page.set_viewport_size({"width": 390, "height": 760})
    send(page, "code please")
    copy = page.locator(".chat-message-assistant .copy-to-clipboard-button").first
    expect(copy).to_be_visible()

    # On a phone the menu button opens the drawer: the header's actions over the
    # conversations.
    page.click("#header-menu-button")
    expect(page.locator("#chat-sidebar")).to_be_visible()
    # The drawer is narrower than the screen and the button sits at the block's right edge;
    # widen the drawer over it so the test asks what is drawn on top, not where the button
    # happens to be.
    page.add_style_tag(
        content="html.chat-menu-open :is(.chat-sidebar, .header-actions) { width: 100vw; }"
    )
    box = copy.bounding_box()
    on_top = page.evaluate(
        """([x, y]) => document.elementFromPoint(x, y)
            .closest('#chat-sidebar, #header-actions') !== null""",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top, "the copy button shows through the sidebar drawer"
