"""What an empty thread shows."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import html

from components import ids
from i18n import t

EXAMPLES = ("welcome.example1", "welcome.example2", "welcome.example3", "welcome.example4")


def welcome(*, lang: str) -> html.Div:
    """A greeting and example prompts; clicking one puts it in the message box."""
    return html.Div(
        [
            html.Div(fac.AntdIcon(icon="antd-message"), className="chat-welcome-icon"),
            html.H2(t(lang, "welcome.title"), className="chat-welcome-title"),
            html.Div(t(lang, "welcome.subtitle"), className="chat-welcome-subtitle"),
            html.Div(
                [
                    html.Button(
                        t(lang, key),
                        id={"type": ids.EXAMPLE_PROMPT, "index": i},
                        className="chat-example",
                        **{"data-prompt": t(lang, key)},
                    )
                    for i, key in enumerate(EXAMPLES)
                ],
                className="chat-examples",
            ),
        ],
        className="chat-welcome",
    )
