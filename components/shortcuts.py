"""The keyboard shortcuts dialog (`?`), and the settings drawer's way to open it.

The keys themselves are handled in the browser by assets/keys.js; this lists them. "Ctrl" and
"⌘" are both written, and the page shows the one of its platform (keys.js marks macOS).
"""

from __future__ import annotations

import feffery_antd_components as fac
from dash import html

from components import ids
from components.antd import NO_SPACE, dialog_buttons
from i18n import t

MOD = "mod"  # Ctrl, or ⌘ on macOS
# What each shortcut does (its i18n key) and its key combinations; "or" between combinations.
SHORTCUTS: list[tuple[str, list[list[str]]]] = [
    ("shortcuts.new_chat", [[MOD, "Shift", "O"]]),
    ("shortcuts.focus_input", [["Shift", "Esc"]]),
    ("shortcuts.copy_last", [[MOD, "Shift", "C"]]),
    ("shortcuts.stop", [["Esc"]]),
    ("shortcuts.send", [["Enter"]]),
    ("shortcuts.new_line", [["Shift", "Enter"]]),
    ("shortcuts.help", [["?"], [MOD, "/"]]),
]


def _key(name: str) -> html.Kbd:
    if name == MOD:
        return html.Kbd(
            [html.Span("Ctrl", className="keys-ctrl"), html.Span("⌘", className="keys-cmd")]
        )
    return html.Kbd(name)


def _combination(keys: list[str]) -> html.Span:
    parts: list = []
    for i, name in enumerate(keys):
        if i:
            parts.append("+")
        parts.append(_key(name))
    return html.Span(parts, className="shortcuts-combination")


def _keys(combinations: list[list[str]], *, lang: str) -> html.Span:
    parts: list = []
    for i, keys in enumerate(combinations):
        if i:
            parts.append(html.Span(t(lang, "shortcuts.or"), className="shortcuts-or"))
        parts.append(_combination(keys))
    return html.Span(parts, className="shortcuts-keys")


def shortcuts_dialog(*, lang: str) -> fac.AntdModal:
    """A small dialog listing every keyboard shortcut, closed until asked for."""
    rows = [
        html.Tr([html.Td(t(lang, key)), html.Td(_keys(combinations, lang=lang))])
        for key, combinations in SHORTCUTS
    ]
    return fac.AntdModal(
        [
            html.Table(html.Tbody(rows), className="shortcuts-table"),
            html.Div(t(lang, "shortcuts.ime_note"), className="settings-hint"),
        ],
        id=ids.SHORTCUTS_DIALOG,
        title=t(lang, "shortcuts.title"),
        visible=False,
        centered=True,
        width=440,
        className="shortcuts-dialog",
        **dialog_buttons(),  # no footer is drawn; kept so every dialog says it alike
    )


def shortcuts_button(*, lang: str) -> fac.AntdButton:
    """The settings drawer's entry to the dialog, for finding the shortcuts by mouse."""
    return fac.AntdButton(
        t(lang, "shortcuts.title"),
        id=ids.SHORTCUTS_BUTTON,
        icon=fac.AntdIcon(icon="antd-question-circle"),
        type="link",
        className="settings-shortcuts-button",
        **NO_SPACE,
    )
