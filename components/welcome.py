"""What an empty thread shows."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import html

from components import ids
from i18n import t
from services.personas import Persona, examples

# The examples of a persona that has none of its own (and of the custom persona).
EXAMPLES = ("welcome.example1", "welcome.example2", "welcome.example3", "welcome.example4")


def welcome(*, lang: str, persona: Persona | None = None) -> html.Div:
    """A greeting and example prompts (the persona's own, else generic ones); clicking one
    puts it in the message box."""
    prompts = examples(persona, lang) or [t(lang, key) for key in EXAMPLES]
    return html.Div(
        [
            html.Div(fac.AntdIcon(icon="antd-message"), className="chat-welcome-icon"),
            html.H2(t(lang, "welcome.title"), className="chat-welcome-title"),
            html.Div(t(lang, "welcome.subtitle"), className="chat-welcome-subtitle"),
            html.Div(
                [
                    html.Button(
                        prompt,
                        id={"type": ids.EXAMPLE_PROMPT, "index": i},
                        className="chat-example",
                        **{"data-prompt": prompt},
                    )
                    for i, prompt in enumerate(prompts)
                ],
                className="chat-examples",
            ),
        ],
        className="chat-welcome",
    )
