"""The final event's view (components/turn.py `view_json`): what it leaves out, the page puts
back (assets/chat.js `fill`, mirrored here), and nothing else changes."""

from __future__ import annotations

import json

from dash import html
from plotly.io import json as plotly_json

from components.message import assistant_message, user_message
from components.turn import (
    MARKDOWN_SLOT,
    NAMESPACE_SLOTS,
    markdown_defaults,
    page_config,
    view_json,
)


def fill(value, slots: dict):
    """assets/chat.js `fill`: a marker value becomes its text, a marker key its props."""
    if isinstance(value, str):
        return slots.get(value, value)
    if isinstance(value, list):
        return [fill(item, slots) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in slots:
                out.update(slots[key])
            else:
                out[key] = fill(item, slots)
        return out
    return value


def without_null_children(value):
    if isinstance(value, list):
        return [without_null_children(item) for item in value]
    if isinstance(value, dict):
        return {
            key: without_null_children(item)
            for key, item in value.items()
            if not (key == "children" and item is None)
        }
    return value


def test_the_page_gets_back_every_element_as_dash_made_it():
    entry = {"role": "assistant", "content": "**hi**", "model": "m", "status": "done"}
    view = html.Div(
        [
            user_message("a <b>question</b>", lang="en", index=0),
            assistant_message(entry, lang="en", index=1, feedback=True),
        ]
    )
    sent = view_json(view, lang="en")
    text = json.dumps(sent)
    for name in NAMESPACE_SLOTS.values():
        assert f'"{name}"' not in text  # each library's name is a marker on the wire
    assert json.dumps(MARKDOWN_SLOT)[1:-1] in text  # the Markdown props come from the page
    page = page_config(lang="en", max_input_chars=10, max_history_rounds=1, records=True)
    slots = {**page["namespaceSlots"], page["markdownSlot"]: page["markdown"]}
    assert page["markdown"] == markdown_defaults("en")
    made = json.loads(plotly_json.to_json_plotly(view))
    # (An absent `children` and a null one draw the same: the page's Markdown props have one.)
    assert without_null_children(fill(sent, slots)) == without_null_children(made)
    assert len(text) < len(json.dumps(made)) - 400
