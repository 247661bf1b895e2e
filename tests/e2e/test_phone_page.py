"""Phones and narrow windows (issue 16), in headless Chromium emulating a touch phone.

Under 768 px the header is one row (title, model, one menu button); the header's actions and
the conversations are a drawer that button opens. Nothing scrolls sideways; touch targets are
at least 40 px; a wide window keeps its header as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_chat_page import send, wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

MENU = "#header-menu-button"
ACTIONS = "#header-actions"
SIDEBAR = "#chat-sidebar"
MIN_TARGET = 40

LONG_CODE = "x = " + " + ".join(f"value_{i}" for i in range(60))
LONG_URL = "https://example.com/" + "a-very-long-path-segment-" * 12 + "end"
WIDE_REPLY = f"""Here:

```python
{LONG_CODE}
```

See {LONG_URL} and <{LONG_URL}>.

| {" | ".join(f"column {i}" for i in range(12))} |
|{"---|" * 12}
| {" | ".join(f"cell {i}" for i in range(12))} |

Averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryverylongword end.
"""


@pytest.fixture
def open_phone(browser: Browser, fake) -> Iterator[Callable[..., Page]]:
    """Open the app in a fresh profile on a touch phone of the given size (CSS px)."""
    contexts = []

    def open_(url: str, width: int = 390, height: int = 844, *, locale: str = "en-US") -> Page:
        context = browser.new_context(
            locale=locale,
            viewport={"width": width, "height": height},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            accept_downloads=True,
        )
        contexts.append(context)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(".chat-welcome, .chat-message", timeout=20_000)
        return page

    yield open_
    for context in contexts:
        context.close()


def box(page: Page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box(timeout=5_000)
    assert found is not None, f"{selector} is not shown"
    return found


def no_sideways_scroll(page: Page) -> None:
    """Neither the page nor the thread is wider than the screen."""
    widths = page.evaluate(
        """() => {
            const messages = document.querySelector('.chat-messages');
            return {
                inner: window.innerWidth,
                page: document.documentElement.scrollWidth,
                body: document.body.scrollWidth,
                messages: messages.scrollWidth,
                messagesBox: messages.clientWidth,
            };
        }"""
    )
    assert widths["page"] <= widths["inner"], widths
    assert widths["body"] <= widths["inner"], widths
    assert widths["messages"] <= widths["messagesBox"], widths


def small_targets(page: Page, selector: str) -> list[str]:
    """The shown buttons and controls under `selector` smaller than a finger (40 px)."""
    return page.evaluate(
        """([selector, least]) => {
            const small = [];
            for (const scope of document.querySelectorAll(selector)) {
                const targets = scope.querySelectorAll(
                    'button, .ant-select, .ant-segmented-item, label.header-switch, ' +
                    '.sidebar-title, .ant-input-affix-wrapper'
                );
                for (const el of targets) {
                    const r = el.getBoundingClientRect();
                    if (r.width === 0 && r.height === 0) continue;  // not shown
                    if (r.width < least || r.height < least) {
                        const name = el.id || el.getAttribute('aria-label') || el.className;
                        small.push(`${name}: ${Math.round(r.width)}x${Math.round(r.height)}`);
                    }
                }
            }
            return small;
        }""",
        [selector, MIN_TARGET],
    )


def header_height(page: Page) -> float:
    return box(page, ".app-header")["height"]


@pytest.mark.parametrize("size", [(390, 844), (360, 740)])
def test_the_phone_header_is_one_row_and_nothing_scrolls_sideways(
    app_server, open_phone, fake, size
):
    width, height = size
    page = open_phone(app_server.url, width, height)

    header = box(page, ".app-header")
    print(f"header height at {width}x{height}: {header['height']:.0f} px")
    assert header["height"] <= 64
    # Title, model and the menu button, side by side in that one row.
    for part in (MENU, ".app-title", ".header-model .ant-select"):
        shown = box(page, part)
        assert shown["y"] >= header["y"] and shown["y"] + shown["height"] <= header["y"] + 64
        assert shown["x"] + shown["width"] <= width
    expect(page.locator(ACTIONS)).to_be_hidden()
    expect(page.locator(SIDEBAR)).to_be_hidden()
    expect(page.locator(".app-subtitle")).to_be_hidden()
    no_sideways_scroll(page)

    # A reply with a long code line, a long link, a wide table and a long word.
    fake.script(Reply(WIDE_REPLY, chunk_size=40))
    send(page, "Something wide, please")
    wait_idle(page, 1)
    no_sideways_scroll(page)
    # The code and the table scroll inside their own boxes, which fit in the screen.
    boxes = page.evaluate(
        """() => [...document.querySelectorAll(
                '#chat-history-list .chat-markdown pre *, #chat-history-list .chat-markdown table'
            )].filter((el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX)
                              && el.scrollWidth > el.clientWidth)
              .map((el) => ({tag: el.tagName, right: el.getBoundingClientRect().right}))"""
    )
    assert {b["tag"] for b in boxes} == {"DIV", "TABLE"}, boxes
    assert all(b["right"] <= width for b in boxes), boxes
    composer = box(page, ".composer-box")
    assert composer["x"] >= 0 and composer["x"] + composer["width"] <= width
    assert composer["y"] + composer["height"] <= height
    assert small_targets(page, ".app-header, .composer-box, .chat-actions") == []
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"phone-{width}x{height}.png"))
