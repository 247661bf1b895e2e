"""The thread: every stored entry as a message, grouped by turn, or the welcome screen.

Each turn (a question and how it was answered) has a container of its own, `chat-turn-<k>`
for the k-th question (from 0), and the last one holds an empty `chat-turn-<k+1>` for the next
turn. When a turn ends the page fills that one, with a new empty one inside it (assets/chat.js).
Why: Dash mounts every child of a list anew when the list changes (measured: all 80 messages
of a 40-turn thread, about 30 ms each), so a turn never changes the thread's list, only the
small container it goes into, and a reply at turn 40 finishes as fast as in a new chat.
"""

from __future__ import annotations

from dash import html

from components import ids
from components.message import (
    OUTSIDE_CLASS,
    assistant_message,
    error_message,
    user_message,
)
from components.persona import greeting
from components.welcome import welcome
from i18n import t
from services.conversation import INTERRUPTED, LEFT, SERVER_STOPPING, retry_question

TURN_CLASS = "chat-turn"
# The turn whose question is the first the model still sees: its context line shows.
CONTEXT_START_CLASS = "chat-context-start"


def turn_id(number: int | str) -> str:
    """The id of the container of the `number`-th turn (from 0)."""
    return f"{ids.TURN_PREFIX}{number}"


def context_start(history: list[dict]) -> int:
    """Index of the first entry the model still sees (the newest question's `context_from`)."""
    for entry in reversed(history):
        if entry.get("role") == "user":
            return entry.get("context_from") or 0
    return 0


def context_line(*, lang: str) -> html.Div:
    """The line above the first turn the model still sees (shown by CSS on that turn only)."""
    return html.Div(t(lang, "context.outside"), className="chat-context-line")


def turn_class(index: int, start: int) -> str:
    """A turn's classes: turns before the context's start are dimmed, and the line shows
    above the turn where it starts."""
    if index < start:
        return f"{TURN_CLASS} {OUTSIDE_CLASS}"
    if index == start and start > 0:
        return f"{TURN_CLASS} {CONTEXT_START_CLASS}"
    return TURN_CLASS


def turn_children(messages: list, *, lang: str) -> list:
    """What a turn's container holds: the context line (hidden unless the turn has
    CONTEXT_START_CLASS), then its messages."""
    return [context_line(lang=lang), *messages]


def turn_container(number: int | str, index: int, children: list, *, start: int) -> html.Div:
    """The `number`-th turn, whose question is entry `index` of the thread.

    The page reads `data-question` to dim turns when the context moves (assets/chat.js).
    """
    return html.Div(
        children,
        id=turn_id(number),
        className=turn_class(index, start),
        **{"data-question": index},
    )


def next_turn(number: int | str) -> html.Div:
    """The empty container the `number`-th turn goes into."""
    return html.Div(id=turn_id(number), className=TURN_CLASS)


def entry_messages(
    history: list[dict],
    *,
    lang: str,
    streaming: bool,
    offset: int = 0,
    versions: dict[int, tuple[int, int]] | None = None,
    feedback: bool = False,
) -> list[tuple[int, list]]:
    """(index of the turn's question, its messages) for every turn of `history`.

    `offset`: `history` starts at that index of the thread (retry, edit and regenerate
    buttons name a message by its index in the thread). `versions`: `‹ k / n ›` by index
    (services/branches.py `versions`). `feedback`: finished replies offer 👍 / 👎 (only when
    the server keeps records, where the choice is stored).

    Only the last error offers a retry, and not while streaming. A question left unanswered
    when nothing is streaming (the page was reloaded mid-reply) gets an "interrupted" notice
    with a retry, so it is never silently lost; so does a reply left interrupted by a server
    that crashed or stopped mid-reply (its text is shown, with its note).
    """
    turns: list[tuple[int, list]] = []
    last = len(history) - 1
    for index, entry in enumerate(history):
        role = entry.get("role")
        if role == "user" or not turns:
            turns.append((offset + index, []))
        messages = turns[-1][1]
        at = offset + index
        version = (versions or {}).get(at)
        if role == "user":
            content = entry.get("content", "")
            messages.append(
                user_message(
                    content,
                    lang=lang,
                    index=at,
                    version=version,
                    attachments=entry.get("attachments"),
                )
            )
        elif role == "assistant":
            messages.append(
                assistant_message(entry, lang=lang, index=at, version=version, feedback=feedback)
            )
        elif role == "error":
            asked = retry_question(history, index) if index == last and not streaming else None
            if asked is not None:
                asked += offset
            shown = (at, version) if version else None
            messages.append(
                error_message(
                    entry, lang=lang, index=asked, retry=asked is not None, versions=shown
                )
            )
    if history and history[-1].get("role") == "user" and not streaming:
        asked = offset + len(history) - 1
        # A regenerate left unanswered (reloaded mid-reply) keeps its versions in reach.
        version = (versions or {}).get(offset + len(history))
        shown = (offset + len(history), version) if version else None
        notice = error_message(
            {"kind": "interrupted"}, lang=lang, index=asked, retry=True, versions=shown
        )
        turns[-1][1].append(notice)
    elif history and _interrupted(history[-1]) and not streaming:
        # A reply the server's crash or stop, or the page's reload (records off), cut short
        # (its text kept): offer to ask again.
        asked = retry_question([*history, {"role": "error"}], len(history))
        if asked is not None:
            kind = "interrupted" if history[-1].get("status") == LEFT else SERVER_STOPPING
            notice = error_message({"kind": kind}, lang=lang, index=offset + asked, retry=True)
            turns[-1][1].append(notice)
    return turns


def _interrupted(entry: dict) -> bool:
    return entry.get("role") == "assistant" and entry.get("status") in (INTERRUPTED, LEFT)


def turn_count(history: list[dict]) -> int:
    """How many turn containers `render_thread` draws for `history` (as `entry_messages`
    groups it: a turn starts at each question, and at the first entry)."""
    return sum(1 for i, entry in enumerate(history) if entry.get("role") == "user" or i == 0)


def render_thread(
    history: list[dict],
    *,
    lang: str,
    streaming: bool,
    persona=None,
    versions: dict[int, tuple[int, int]] | None = None,
    feedback: bool = False,
) -> list:
    """Components for `history`: the greeting, a container per turn, the next turn's inside
    the last one (see the module docstring).

    Turns the model no longer sees (they did not fit its context) are dimmed, with a line
    above the first one it still sees.
    """
    hello = greeting(persona, lang=lang)
    children = [hello] if hello else []
    if not history and not streaming:
        return [*children, welcome(lang=lang, persona=persona), next_turn(0)]
    start = context_start(history)
    turns = entry_messages(
        history, lang=lang, streaming=streaming, versions=versions, feedback=feedback
    )
    for number, (index, messages) in enumerate(turns):
        inside = turn_children(messages, lang=lang)
        if number == len(turns) - 1:
            inside.append(next_turn(number + 1))
        children.append(turn_container(number, index, inside, start=start))
    if not turns:
        children.append(next_turn(0))
    return children
