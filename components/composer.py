"""The message box and its buttons."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import dcc, html

from components import ids
from components.attachments import AttachOptions
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


def attach_parts(*, lang: str, records: bool) -> tuple[list, list]:
    """(Above the box: the chips row and what went wrong; in the box: the attach button.)

    The chips, the file input beside the button (Dash has no `<input type=file>` element of
    its own) and the words in the row are the page's (assets/attach.js); Dash gives these
    elements no children, so it never redraws over them. Records off, a plain hint says that
    attachments last only until a reload (shown with the chips)."""
    above = [
        html.Div(id=ids.ATTACHMENTS, className="composer-attachments", hidden=True),
        html.Div(
            id=ids.ATTACH_PROBLEM, className="composer-attach-problem", role="alert", hidden=True
        ),
    ]
    if not records:
        above.append(
            html.Div(
                t(lang, "attach.records_off"),
                id=ids.ATTACH_NOTE,
                className="composer-attach-note",
                hidden=True,
            )
        )
    label = t(lang, "attach.button")
    button = fac.AntdButton(
        id=ids.ATTACH_BUTTON,
        type="text",
        icon=html.Span(className="composer-attach-icon"),
        title=label,
        className="composer-attach",
        **{"aria-label": label},
    )
    return above, [button]


def drop_overlay(*, lang: str) -> html.Div:
    """What shows while files are dragged over the page (assets/attach.js)."""
    return html.Div(
        html.Div(t(lang, "attach.drop"), className="chat-drop-text"),
        id=ids.DROP_OVERLAY,
        className="chat-drop-overlay",
        hidden=True,
    )


def composer(
    *,
    lang: str,
    max_chars: int,
    quota: bool = False,
    attachments: AttachOptions | None = None,
    records: bool = True,
) -> html.Div:
    """Multi-line input (Enter sends, Shift+Enter is a new line), send and stop; under it, with
    `quota` (ACCOUNTS=true), what is left of the user's daily tokens. With `attachments`, an
    attach button, the chips of the files attached, and the overlay for dropped files."""
    above, inside = attach_parts(lang=lang, records=records) if attachments else ([], [])
    return html.Div(
        [
            jump_newest(lang=lang),
            dcc.Store(id=ids.ESTIMATE_TEXT),
            *([drop_overlay(lang=lang)] if attachments else []),
            html.Div(
                [
                    *above,
                    *inside,
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
