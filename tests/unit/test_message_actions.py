"""components.message / composer: the copy button on finished replies, the "newest message"
button above the box."""

from __future__ import annotations

import json

import feffery_antd_components as fac
import plotly.io.json as plotly_json
import pytest

from components import ids
from components.composer import composer
from components.message import COPY_BUTTON_CLASS, live_reply
from components.thread import render_thread
from components.turn import REPLY_SLOT, finished_turn
from i18n import t
from tests.unit.test_thread import classes, error, messages, reply, role_of, user, walk


def copy_buttons(node: object) -> list[fac.AntdCopyText]:
    return [c for c in walk(node) if COPY_BUTTON_CLASS in classes(c)]


def test_every_finished_reply_copies_its_markdown_source() -> None:
    first = "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```py\nprint('hi')\n```\n"
    second = "**bold** <img src=x onerror=alert(1)> and $x^2$"
    history = [user("q1"), reply(first), user("q2"), reply(second, status="stopped")]
    children = render_thread(history, lang="en", streaming=False)
    for message in messages(children):
        buttons = copy_buttons(message)
        if role_of(message) == "assistant":
            (button,) = buttons
            assert isinstance(button, fac.AntdCopyText)
            assert button.format == "text/plain"
        else:
            assert buttons == []
    # The stored text, exactly: a prop, never markup.
    assert [b.text for b in copy_buttons(children)] == [first, second]


def test_no_copy_on_errors_the_live_bubble_or_a_reply_still_being_written() -> None:
    history = [user("q1"), error("timeout"), user("q2"), reply("half", status="streaming")]
    children = render_thread(history, lang="en", streaming=False)
    assert copy_buttons(children) == []
    assert copy_buttons(live_reply(lang="en")) == []


@pytest.mark.parametrize(
    ("lang", "copy", "copied", "locale"),
    [
        ("en", "Copy reply (Markdown)", "Copied", "en-us"),
        ("zh-cn", "复制回答（Markdown）", "已复制", "zh-cn"),
    ],
)
def test_the_copy_button_speaks_the_pages_language(lang, copy, copied, locale) -> None:
    (button,) = copy_buttons(render_thread([user("q"), reply("a")], lang=lang, streaming=False))
    assert button.tooltips == [copy, copied]
    assert button.locale == locale


@pytest.mark.parametrize("question_index", [0, 2])
def test_the_finished_turn_leaves_the_copy_text_to_the_page(question_index: int) -> None:
    """The stream's final event holds REPLY_SLOT where the reply's text goes, in the copy
    button's `text` as in the Markdown (assets/chat.js fills both), never the text again."""
    entry = {"role": "assistant", "content": REPLY_SLOT, "model": "m", "status": "done"}
    view = finished_turn(
        [entry],
        question="q",
        question_index=question_index,
        retry=False,
        start=0,
        lang="en",
        persona=None,
    )
    sent = json.loads(plotly_json.to_json_plotly(view))
    copies = []

    def find(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "AntdCopyText":
                copies.append(node["props"])
            for value in node.values():
                find(value)
        elif isinstance(node, list):
            for value in node:
                find(value)

    find(sent)
    assert [props["text"] for props in copies] == [REPLY_SLOT]


@pytest.mark.parametrize("lang", ["en", "zh-cn"])
def test_the_newest_message_button_starts_hidden_and_is_labelled(lang: str) -> None:
    tree = composer(lang=lang, max_chars=100)
    (button,) = [c for c in walk(tree) if getattr(c, "id", None) == ids.JUMP_NEWEST]
    assert button.hidden is True
    assert button.type == "button"
    label = t(lang, "composer.jump_newest")
    assert button.title == label
    assert getattr(button, "aria-label") == label
