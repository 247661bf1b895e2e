"""Light and dark (components/theme.py): text keeps WCAG AA contrast in both themes, and every
page that has a theme gets the script that picks it, allowed by the CSP.

The colours are read from the styles themselves, so a future colour change that breaks the
contrast fails here.
"""

from __future__ import annotations

import re

import pytest

from api.auth import LOGIN_PAGE
from api.routes import BLOCKED_LINK_STYLE
from components.layout import PRIMARY_COLOR
from components.theme import BOOT_SCRIPT, THEME_KEY, boot_tag, csp_hash
from config import APP_DIR

STYLE = (APP_DIR / "assets" / "style.css").read_text()
AA_TEXT = 4.5  # body text
AA_UI = 3.0  # large text, icons, borders that carry meaning


def luminance(color: str) -> float:
    """WCAG relative luminance of an opaque #rgb / #rrggbb colour."""
    hex_ = color.lstrip("#")
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)
    assert len(hex_) == 6, f"{color}: a text pair needs opaque colours"
    channels = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def declarations(css: str, selector: str) -> dict[str, str]:
    """The properties of the rule(s) whose selector is exactly `selector`."""
    found: dict[str, str] = {}
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    for match in re.finditer(r"([^{}]+)\{([^{}]*)\}", css):
        if match.group(1).strip() != selector:
            continue
        for name, value in re.findall(r"([\w-]+)\s*:\s*([^;]+)", match.group(2)):
            found[name] = value.strip()
    assert found, f"no rule for {selector}"
    return found


def palette(css: str, *selectors: str) -> dict[str, str]:
    """Custom properties as the later selectors override the earlier, `var()`s resolved."""
    values: dict[str, str] = {}
    for selector in selectors:
        values.update(declarations(css, selector))

    def resolve(value: str) -> str:
        ref = re.fullmatch(r"var\((--[\w-]+)\)", value)
        return resolve(values[ref.group(1)]) if ref else value

    return {name: resolve(value) for name, value in values.items()}


LIGHT = palette(STYLE, ":root")
DARK = palette(STYLE, ":root", ':root[data-theme="dark"]')
DARK_MARKDOWN = {
    **DARK,
    **palette(
        STYLE, ":root", ':root[data-theme="dark"]', ':root[data-theme="dark"] .markdown-body'
    ),
}

# (text, background, minimum): each text colour on each background it is shown on.
APP_PAIRS = [
    ("--color-text", "--color-bg", AA_TEXT),
    ("--color-text", "--color-surface", AA_TEXT),
    ("--color-text", "--color-hover", AA_TEXT),
    ("--color-text-muted", "--color-bg", AA_TEXT),
    ("--color-text-muted", "--color-surface", AA_TEXT),
    ("--color-text-muted", "--color-hover", AA_TEXT),
    ("--color-text-subtle", "--color-bg", AA_TEXT),
    ("--color-text-subtle", "--color-surface", AA_TEXT),
    ("--color-accent-text", "--color-bg", AA_TEXT),
    ("--color-accent-text", "--color-surface", AA_TEXT),
    ("--color-user-text", "--color-user-bubble", AA_TEXT),
    ("--color-error-text", "--color-error-bg", AA_TEXT),
    ("--color-warning-text", "--color-warning-bg", AA_TEXT),
    ("--color-warning-text", "--color-surface", AA_TEXT),
    ("--color-tag-text", "--color-tag-bg", AA_TEXT),
    ("--color-sidebar-text", "--color-surface", AA_TEXT),
    ("--color-sidebar-text", "--color-hover", AA_TEXT),
    ("--color-text-muted", "--color-code-bg", AA_TEXT),
    ("--color-text", "--color-code-bg", AA_TEXT),
    ("--color-accent", "--color-surface", AA_UI),
    ("--color-accent", "--color-bg", AA_UI),
]
# Replies' Markdown in the dark theme (the light one is github-markdown-css's own).
MARKDOWN_PAIRS = [
    ("--fgColor-default", "--color-surface", AA_TEXT),
    ("--fgColor-default", "--bgColor-muted", AA_TEXT),
    ("--fgColor-muted", "--color-surface", AA_TEXT),
    ("--fgColor-accent", "--color-surface", AA_TEXT),
    ("--fgColor-danger", "--color-surface", AA_TEXT),
]


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("text", "background", "minimum"), APP_PAIRS)
def test_app_text_keeps_aa_contrast(theme, text, background, minimum):
    colors = LIGHT if theme == "light" else DARK
    ratio = contrast(colors[text], colors[background])
    assert ratio >= minimum, f"{theme}: {text} on {background} is {ratio:.2f}:1"


@pytest.mark.parametrize(("text", "background", "minimum"), MARKDOWN_PAIRS)
def test_dark_markdown_keeps_aa_contrast(text, background, minimum):
    ratio = contrast(DARK_MARKDOWN[text], DARK_MARKDOWN[background])
    assert ratio >= minimum, f"dark Markdown: {text} on {background} is {ratio:.2f}:1"


def test_every_app_colour_is_a_variable_with_both_values():
    # Outside the palettes a hard-coded colour would not follow the theme.
    rules = STYLE.split(".markdown-body {", 1)[1]
    rules = re.sub(r"/\*.*?\*/", "", rules, flags=re.S)
    assert not re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(", rules.split("}", 1)[1])
    assert set(declarations(STYLE, ':root[data-theme="dark"]')) == set(declarations(STYLE, ":root"))


def test_antd_primary_buttons_keep_aa_contrast():
    # White text on antd's primary colour (the Send button); the user's bubble is the same.
    assert contrast("#ffffff", PRIMARY_COLOR) >= AA_TEXT
    assert LIGHT["--color-user-bubble"] == PRIMARY_COLOR


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_login_page_keeps_aa_contrast(theme):
    page = LOGIN_PAGE.replace("{{", "{").replace("}}", "}")
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    selectors = [":root"] + ([':root[data-theme="dark"]'] if theme == "dark" else [])
    colors = palette(css, *selectors)
    for text, background in [
        ("--text", "--bg"),
        ("--text", "--surface"),
        ("--muted", "--surface"),
        ("--error", "--surface"),
        ("--button-text", "--button"),
    ]:
        ratio = contrast(colors[text], colors[background])
        assert ratio >= AA_TEXT, f"login, {theme}: {text} on {background} is {ratio:.2f}:1"


@pytest.mark.parametrize("selector", [":root", ':root[data-theme="dark"]'])
def test_blocked_link_page_keeps_aa_contrast(selector):
    rule = declarations(BLOCKED_LINK_STYLE, selector)
    assert contrast(rule["color"], rule["background"]) >= AA_TEXT


def test_boot_script_uses_the_key_and_matches_its_hash():
    assert f'"{THEME_KEY}"' in BOOT_SCRIPT
    assert boot_tag() == f"<script>{BOOT_SCRIPT}</script>"
    assert csp_hash().startswith("'sha256-")


def test_every_themed_page_has_the_boot_script_allowed_by_the_csp(client, make_app):
    page = client.get("/")
    assert boot_tag() in page.get_data(as_text=True)
    assert csp_hash() in page.headers["Content-Security-Policy"]
    # Before anything that paints: in <head>, ahead of the styles.
    html = page.get_data(as_text=True)
    assert html.index(boot_tag()) < html.index("<body")
    blocked = client.get("/blocked-link?to=javascript:alert(1)")
    assert boot_tag() in blocked.get_data(as_text=True)
    assert csp_hash() in blocked.headers["Content-Security-Policy"]
    login = make_app(access_password="secret").server.test_client().get("/login")
    assert boot_tag() in login.get_data(as_text=True)
    assert csp_hash() in login.headers["Content-Security-Policy"]
