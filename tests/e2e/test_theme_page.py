"""Light and dark (issue 16 point 2) as a user meets them, in Chromium: the page follows the
system's `prefers-color-scheme` until `#theme-switch` picks a theme, which a reload keeps."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from components.theme import THEME_KEY
from tests.e2e.test_chat_page import send, wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

REPLY = "Some `inline` code and a block:\n\n```python\ndef double(x):\n    return x * 2\n```\n"
DIAGRAM = "\n```mermaid\ngraph TD\n  A --> B\n```\n"
# Whether a diagram's first box is drawn with a dark (or a light) fill.
BOX_IS = """(dark) => {
  const box = document.querySelector(
    '[data-chat-mermaid="drawn"] svg .node rect, [data-chat-mermaid="drawn"] svg .node polygon');
  if (!box) return false;
  const [r, g, b] = getComputedStyle(box).fill.match(/[\\d.]+/g).map(Number);
  const level = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  return dark ? level < 0.3 : level > 0.5;
}"""

# The WCAG luminance and contrast of computed colours, in the page; a colour with alpha is
# laid over the nearest ancestor's opaque background first.
COLORS = """
(() => {
  const parse = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0.5) return c;
    }
    return [255, 255, 255];
  };
  window.themeProbe = {
    background: (selector) => lum(background(document.querySelector(selector))),
    contrast: (selector) => {
      const el = document.querySelector(selector);
      const a = lum(parse(getComputedStyle(el).color)), b = lum(background(el));
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    },
  };
})();
"""
DARK = 0.05  # below: a dark background (#3a3a3a is 0.04)
LIGHT = 0.8  # above: a light one (#e6e6e6 is 0.79)


def new_context(browser: Browser, scheme: str) -> BrowserContext:
    context = browser.new_context(
        color_scheme=scheme, locale="en-US", viewport={"width": 1100, "height": 760}
    )
    context.add_init_script(COLORS)
    return context


def open_app(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.goto(url)
    expect(page.locator("#theme-switch")).to_be_visible(timeout=20_000)
    return page


def luminance(page: Page, selector: str) -> float:
    return page.evaluate("(s) => window.themeProbe.background(s)", selector)


def contrast(page: Page, selector: str) -> float:
    return page.evaluate("(s) => window.themeProbe.contrast(s)", selector)


def pick(page: Page, choice: str) -> None:
    page.click(f'#theme-switch [title="{choice}"]')


def expect_theme(page: Page, theme: str) -> None:
    """The page's theme is `theme`: its background, antd's widgets, the reply's code."""
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    dark = theme == "dark"
    # Waits for the change: antd's styles follow a React render.
    expect_luminance(page, "body", dark)
    expect_luminance(page, "#theme-switch", dark)  # antd's own colours
    expect_luminance(page, ".chat-markdown pre", dark)
    assert contrast(page, ".chat-markdown pre code") >= 4.5
    assert contrast(page, ".chat-markdown p") >= 4.5


def expect_luminance(page: Page, selector: str, dark: bool) -> None:
    page.wait_for_function(
        "([s, dark, limit]) => { const l = window.themeProbe.background(s);"
        " return dark ? l < limit : l > limit; }",
        arg=[selector, dark, DARK if dark else LIGHT],
        timeout=5_000,
    )


def expect_selected(page: Page, choice: str) -> None:
    selected = page.locator("#theme-switch .ant-segmented-item-selected [title]")
    expect(selected).to_have_attribute("title", choice)


def test_dark_system_then_light_by_the_switch_kept_after_reload(browser, app_server, fake) -> None:
    context = new_context(browser, "dark")
    try:
        page = open_app(context, app_server.url)
        fake.script(Reply(REPLY))
        send(page, "show me code")
        wait_idle(page, 1)
        expect_selected(page, "Follow the system's theme")
        expect_theme(page, "dark")
        assert luminance(page, "body") < DARK

        pick(page, "Light theme")
        expect_theme(page, "light")
        assert page.evaluate(f"localStorage.getItem('{THEME_KEY}')") == "light"

        page.reload()
        expect(page.locator(".chat-markdown pre")).to_be_visible(timeout=20_000)
        expect(page.locator("#theme-switch")).to_be_visible()
        expect_theme(page, "light")
        expect_selected(page, "Light theme")

        # A choice made in another tab reaches this one, theme and switch.
        other = open_app(context, app_server.url)
        expect_selected(other, "Light theme")
        pick(other, "Dark theme")
        expect_selected(page, "Dark theme")
        expect_theme(page, "dark")
    finally:
        context.close()


def test_dark_picked_on_a_light_system_before_any_script_of_dash(browser, app_server, fake) -> None:
    context = new_context(browser, "light")
    try:
        page = open_app(context, app_server.url)
        fake.script(Reply(REPLY + DIAGRAM))
        send(page, "show me code")
        wait_idle(page, 1)
        expect_theme(page, "light")
        page.wait_for_function(BOX_IS, arg=False, timeout=15_000)

        pick(page, "Dark theme")
        expect_theme(page, "dark")
        # The diagram is drawn again, in the diagram library's dark theme.
        page.wait_for_function(BOX_IS, arg=True, timeout=15_000)

        # The theme is there before Dash and React: a page whose scripts never arrive is dark.
        bare = context.new_page()
        bare.route(re.compile(r".*/(_dash-component-suites|assets)/.*\.js.*"), lambda r: r.abort())
        bare.goto(app_server.url)
        expect(bare.locator("html")).to_have_attribute("data-theme", "dark")
        assert luminance(bare, "body") < DARK
        bare.close()

        # "Follow the system" forgets the choice, and then follows the system as it changes.
        pick(page, "Follow the system's theme")
        expect_theme(page, "light")
        assert page.evaluate(f"localStorage.getItem('{THEME_KEY}')") is None
        page.emulate_media(color_scheme="dark")
        expect_theme(page, "dark")
    finally:
        context.close()


@pytest.fixture(scope="module")
def locked_app(start_app):
    return start_app(ACCESS_PASSWORD="theme-test")


def test_login_page_follows_the_system_and_the_choice(browser, locked_app) -> None:
    context = new_context(browser, "dark")
    try:
        page = context.new_page()
        page.goto(locked_app.url)
        expect(page.locator("#login-form")).to_be_visible()
        assert luminance(page, "body") < DARK
        assert luminance(page, "#login-password") < DARK
        for selector in ("h1", "p", "#login-submit"):
            assert contrast(page, selector) >= 4.5, selector

        page.evaluate(f"localStorage.setItem('{THEME_KEY}', 'light')")
        page.reload()
        expect(page.locator("#login-form")).to_be_visible()
        assert luminance(page, "body") > LIGHT
    finally:
        context.close()
