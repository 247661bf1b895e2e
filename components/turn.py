"""What the browser needs to run a turn without asking the server (see assets/chat.js), and
how a finished turn is drawn, which the server sends in the stream's final event."""

from __future__ import annotations

from dash import get_relative_path

from components.markdown import markdown_view
from components.message import (
    LIVE_ACTIVE_CLASS,
    LIVE_IDLE_CLASS,
    LIVE_QUESTION_CLASS,
    OUTSIDE_CLASS,
    assistant_message,
    error_message,
    user_message,
)
from components.thread import context_line, render_thread
from i18n import t
from services.records.repository import TITLE_CHARS

# Where the page puts text it already has into a finished turn's components and entries, so
# the stream's final event need not carry the reply (or the question) a second time.
QUESTION_SLOT = "\u0000question"
REPLY_SLOT = "\u0000reply"


def page_config(*, lang: str, max_input_chars: int, max_history_rounds: int) -> dict:
    """The data of the PAGE_CONFIG store.

    The Markdown of the live reply and the context line are made here, as Dash component
    JSON, so the browser draws them exactly as the server would, from one definition.
    """
    live = markdown_view("", lang=lang).to_plotly_json()["props"]
    return {
        "markdown": {key: value for key, value in live.items() if key != "markdownStr"},
        "thinking": t(lang, "thinking"),
        "questionSlot": QUESTION_SLOT,
        "replySlot": REPLY_SLOT,
        "maxInputChars": max_input_chars,
        "maxHistoryRounds": max_history_rounds,
        "titleChars": TITLE_CHARS,
        "streamUrl": get_relative_path("/api/chat/stream"),
        "liveClass": LIVE_ACTIVE_CLASS,
        "idleClass": LIVE_IDLE_CLASS,
        "questionClass": LIVE_QUESTION_CLASS,
        "outsideClass": OUTSIDE_CLASS,
        "contextLine": context_line(lang=lang),
    }


def finished_turn(
    entries: list[dict], *, question: str | None, question_index: int, lang: str, persona
) -> dict:
    """How the thread changes when a turn ends: `{"replace": bool, "children": [...]}`.

    `children` are the question (unless None: a retry's is in the thread already), then each
    entry. The first question replaces the welcome screen, so the thread is drawn anew then.
    Only the last error offers a retry: of the question at `question_index`.
    """
    if question is not None and question_index == 0:
        turn = [{"role": "user", "content": question}, *entries]
        return {
            "replace": True,
            "children": render_thread(turn, lang=lang, streaming=False, persona=persona),
        }
    children = [] if question is None else [user_message(question, lang=lang)]
    for offset, entry in enumerate(entries, start=1):
        if entry["role"] == "assistant":
            children.append(assistant_message(entry, lang=lang))
        else:
            last = offset == len(entries)
            children.append(error_message(entry, lang=lang, index=question_index, retry=last))
    return {"replace": False, "children": children}
