"""What the browser needs to start a turn without asking the server (see assets/chat.js)."""

from __future__ import annotations

from components.message import LIVE_ACTIVE_CLASS, LIVE_QUESTION_CLASS, OUTSIDE_CLASS
from components.stream import event_source_template
from components.thread import context_line
from services.records.repository import TITLE_CHARS


def page_config(*, lang: str, max_input_chars: int, max_history_rounds: int) -> dict:
    """The data of the PAGE_CONFIG store.

    The stream component and the context line are made here, as Dash component JSON, so the
    browser builds them exactly as the server would, from one definition.
    """
    return {
        "eventSource": event_source_template(),
        "maxInputChars": max_input_chars,
        "maxHistoryRounds": max_history_rounds,
        "titleChars": TITLE_CHARS,
        "liveClass": LIVE_ACTIVE_CLASS,
        "questionClass": LIVE_QUESTION_CLASS,
        "outsideClass": OUTSIDE_CLASS,
        "contextLine": context_line(lang=lang),
    }
