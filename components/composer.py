"""The message box and its buttons."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import dcc, html

from components import ids
from components.icon_button import icon_button
from i18n import t


def jump_newest(*, lang: str) -> html.Button:
    """The round "newest message" button above the box, hidden until the thread is scrolled
    up; the page shows, hides and answers it (assets/chat.js, where it follows the thread)."""
    return icon_button(
        "antd-arrow-down",
        id=ids.JUMP_NEWEST,
        label=t(lang, "composer.jump_newest"),
        className="chat-jump-newest",
        hidden=True,
    )


def composer(*, lang: str, max_chars: int, quota: bool = False) -> html.Div:
    """Multi-line input (Enter sends, Shift+Enter is a new line), send and stop; under it, with
    `quota` (ACCOUNTS=true), what is left of the user's daily tokens."""
    return html.Div(
        [
            jump_newest(lang=lang),
            dcc.Store(id=ids.ESTIMATE_TEXT),
            html.Div(
                [
                    fac.AntdInput(
                        id=ids.CHAT_INPUT,
                        mode="text-area",
                        autoSize={"minRows": 1, "maxRows": 8},
                        placeholder=t(lang, "composer.placeholder"),
                        variant="borderless",
                        className="composer-input",
                        # The size estimate of the next request follows typing, not every key.
                        debounceWait=400,
                        **{"data-max-chars": str(max_chars)},
                    ),
                    fac.AntdButton(
                        t(lang, "composer.send"),
                        autoInsertSpace=False,
                        id=ids.SEND_BUTTON,
                        type="primary",
                        icon=fac.AntdIcon(icon="antd-send"),
                        className="composer-send",
                    ),
                    fac.AntdButton(
                        t(lang, "composer.stop"),
                        autoInsertSpace=False,
                        id=ids.STOP_BUTTON,
                        icon=fac.AntdIcon(icon="antd-pause-circle"),
                        danger=True,
                        className="composer-stop",
                        style={"display": "none"},
                    ),
                ],
                className="composer-box",
            ),
            html.Div(
                [
                    # The user's tokens left today, by the next request's size; hidden unless
                    # a budget applies (callbacks/quota.py).
                    *(
                        [html.Span(id=ids.QUOTA_LEFT, className="quota-left", hidden=True)]
                        if quota
                        else []
                    ),
                    html.Span(id=ids.ESTIMATE, className="composer-estimate"),
                    html.Span(t(lang, "composer.keys"), className="composer-keys"),
                    html.Span(t(lang, "composer.hint")),
                ],
                className="composer-hint",
            ),
        ],
        className="composer",
    )
