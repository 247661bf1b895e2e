"""The thread: every stored entry as a message, or the welcome screen."""

from __future__ import annotations

from dash import html

from components.message import assistant_message, error_message, user_message
from components.persona import greeting
from components.welcome import welcome
from i18n import t
from services.conversation import retry_question


def context_start(history: list[dict]) -> int:
    """Index of the first entry the model still sees (the newest question's `context_from`)."""
    for entry in reversed(history):
        if entry.get("role") == "user":
            return entry.get("context_from") or 0
    return 0


def context_line(*, lang: str) -> html.Div:
    """The line above the first entry the model still sees."""
    return html.Div(t(lang, "context.outside"), className="chat-context-line")


def render_thread(history: list[dict], *, lang: str, streaming: bool, persona=None) -> list:
    """Components for `history`. Only the last error offers a retry, and not while streaming.

    A question left unanswered when nothing is streaming (the page was reloaded mid-reply)
    gets an "interrupted" notice with a retry, so it is never silently lost. Entries the model
    no longer sees (they did not fit its context) are dimmed, with a line saying so.
    """
    hello = greeting(persona, lang=lang)
    if not history and not streaming:
        return [hello, welcome(lang=lang)] if hello else [welcome(lang=lang)]
    children = [hello] if hello else []
    last = len(history) - 1
    start = context_start(history)
    for index, entry in enumerate(history):
        if index == start and start > 0:
            children.append(context_line(lang=lang))
        role = entry.get("role")
        outside = index < start
        if role == "user":
            children.append(user_message(entry.get("content", ""), lang=lang, outside=outside))
        elif role == "assistant":
            children.append(assistant_message(entry, lang=lang, outside=outside))
        elif role == "error":
            asked = retry_question(history, index) if index == last and not streaming else None
            children.append(error_message(entry, lang=lang, index=asked, retry=asked is not None))
    if history and history[-1].get("role") == "user" and not streaming:
        asked = len(history) - 1
        children.append(error_message({"kind": "interrupted"}, lang=lang, index=asked, retry=True))
    return children
