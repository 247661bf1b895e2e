"""The thread: every stored entry as a message, or the welcome screen."""

from __future__ import annotations

from components.message import assistant_message, error_message, user_message
from components.welcome import welcome


def render_thread(history: list[dict], *, lang: str, streaming: bool) -> list:
    """Components for `history`. Only the last error offers a retry, and not while streaming.

    A question left unanswered when nothing is streaming (the page was reloaded mid-reply)
    gets an "interrupted" notice with a retry, so it is never silently lost.
    """
    if not history and not streaming:
        return [welcome(lang=lang)]
    children = []
    last = len(history) - 1
    for index, entry in enumerate(history):
        role = entry.get("role")
        if role == "user":
            children.append(user_message(entry.get("content", ""), lang=lang))
        elif role == "assistant":
            children.append(assistant_message(entry, lang=lang))
        elif role == "error":
            retry = index == last and not streaming
            children.append(error_message(entry, lang=lang, index=index, retry=retry))
    if history and history[-1].get("role") == "user" and not streaming:
        children.append(
            error_message({"kind": "interrupted"}, lang=lang, index=len(history), retry=True)
        )
    return children
