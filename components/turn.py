"""What the browser needs to run a turn without asking the server (see assets/chat.js), and
how a finished turn is drawn, which the server sends in the stream's final event."""

from __future__ import annotations

import json

import plotly.io.json as plotly_json
from dash import get_relative_path, html

from components import ids
from components.markdown import markdown_view
from components.message import (
    LIVE_ACTIVE_CLASS,
    LIVE_IDLE_CLASS,
    LIVE_QUESTION_CLASS,
    OUTSIDE_CLASS,
    notice,
)
from components.thread import (
    CONTEXT_START_CLASS,
    TURN_CLASS,
    entry_messages,
    render_thread,
    turn_children,
    turn_container,
)
from i18n import t
from services.conversation import LEFT
from services.feedback import MAX_COMMENT_CHARS
from services.input_rules import blank_characters

# Where the page puts text it already has into a finished turn's components and entries, so
# the stream's final event need not carry the reply (or the question) a second time.
QUESTION_SLOT = "\u0000question"
REPLY_SLOT = "\u0000reply"
NEXT_TURN_SLOT = "\u0000next-turn"
# A key, not a value: a Markdown element in the final event that has this key takes the props
# every reply's Markdown has (page.markdown) from the page, so each event does not repeat them.
MARKDOWN_SLOT = "\u0000markdown"
MARKDOWN_TYPE = ("FefferyMarkdown", "feffery_markdown_components")
# The component libraries' names, which every element of a finished turn's view names: the
# final event carries a two-character marker for each, and the page puts the name back.
NAMESPACE_SLOTS = {
    "\u0000h": "dash_html_components",
    "\u0000a": "feffery_antd_components",
    "\u0000m": "feffery_markdown_components",
}
SLOT_OF_NAMESPACE = {name: slot for slot, name in NAMESPACE_SLOTS.items()}

# What a turn starts from, by name: the props the page reads from Dash's store when it starts
# a turn at the click itself (assets/chat.js `storeStates`), with no round of Dash's renderer
# before the request leaves.
TURN_STATES: tuple[tuple[str, str, str], ...] = (
    ("text", ids.CHAT_INPUT, "value"),
    ("history", ids.HISTORY_STORE, "data"),
    ("streaming", ids.STREAMING_STORE, "data"),
    ("conversation", ids.CONVERSATION_STORE, "data"),
    ("historyStart", ids.HISTORY_START, "data"),
    ("turnNumber", ids.TURN_NUMBER, "data"),
    ("temperature", ids.TEMPERATURE, "value"),
    ("topP", ids.TOP_P, "value"),
    ("multiTurn", ids.MULTI_TURN_SWITCH, "checked"),
    ("lang", ids.LANG_STORE, "data"),
    ("model", ids.MODEL_SELECT, "value"),
    ("persona", ids.PERSONA_SELECT, "value"),
    ("customPrompt", ids.PERSONA_CUSTOM_PROMPT, "value"),
    ("custom", ids.CUSTOM_SAMPLING, "checked"),
    ("maxTokens", ids.MAX_TOKENS, "value"),
    ("notice", ids.NOTICE, "children"),
    ("estimate", ids.ESTIMATE, "children"),
)


# How often a page following a reply it did not start reads its text (api/running.py).
FOLLOW_MS = 1000


def page_config(
    *,
    lang: str,
    max_input_chars: int,
    max_history_rounds: int,
    records: bool = False,
    attach: dict | None = None,
    vision_models: list[str] | tuple[str, ...] = (),
) -> dict:
    """The data of the PAGE_CONFIG store. `attach`: the attachments' limits and words
    (components/attachments.py `attach_config`), None when they are off.

    The Markdown of the live reply and the context line are made here, as Dash component
    JSON, so the browser draws them exactly as the server would, from one definition.
    """
    return {
        "markdown": markdown_defaults(lang),
        "markdownSlot": MARKDOWN_SLOT,
        "namespaceSlots": NAMESPACE_SLOTS,
        "thinking": t(lang, "thinking"),
        "questionSlot": QUESTION_SLOT,
        "replySlot": REPLY_SLOT,
        "maxInputChars": max_input_chars,
        "maxHistoryRounds": max_history_rounds,
        # The models that take images: an image for any other is refused before it is sent.
        "visionModels": list(vision_models),
        "blankCharacters": blank_characters(),
        "turnStates": [list(state) for state in TURN_STATES],
        "streamUrl": get_relative_path("/api/chat/stream"),
        # With records on, the server's record is the thread: the page reads it at load, and a
        # reply outlives the page that asked (api/running.py).
        "records": records,
        "attach": attach,
        "runningUrl": get_relative_path("/api/chat/running"),
        "stopUrl": get_relative_path("/api/chat/stop"),
        "followMs": FOLLOW_MS,
        "leftStatus": LEFT,
        "liveClass": LIVE_ACTIVE_CLASS,
        "idleClass": LIVE_IDLE_CLASS,
        "questionClass": LIVE_QUESTION_CLASS,
        "nextTurnSlot": NEXT_TURN_SLOT,
        "turnClass": TURN_CLASS,
        "outsideClass": OUTSIDE_CLASS,
        "contextStartClass": CONTEXT_START_CLASS,
        # The edit form the page draws in place of a question (assets/chat.js `openEditor`).
        "edit": {
            "cancel": t(lang, "edit.cancel"),
            "send": t(lang, "edit.send"),
            "label": t(lang, "message.edit"),
        },
        # 👍 / 👎 (api/feedback.py; the buttons are drawn with records on only) and the
        # comment box the page draws under a 👎 (assets/chat.js `openCommentBox`).
        "feedback": {
            "url": get_relative_path("/api/chat/feedback"),
            "comment": t(lang, "feedback.comment"),
            "send": t(lang, "feedback.send"),
            "skip": t(lang, "feedback.skip"),
            "maxChars": MAX_COMMENT_CHARS,
            "failed": json.loads(plotly_json.to_json_plotly(notice("feedback.failed", lang=lang))),
        },
    }


def markdown_defaults(lang: str) -> dict:
    """The props every reply's Markdown has (components/markdown.py), but its text."""
    props = markdown_view("", lang=lang).to_plotly_json()["props"]
    return {key: value for key, value in props.items() if key != "markdownStr"}


def view_json(view, *, lang: str) -> dict:
    """A finished turn's components as the final event carries them: Dash's JSON, with what
    the page already has left to the page (assets/chat.js `fill`): each reply's Markdown
    props (page.markdown, MARKDOWN_SLOT) and the libraries' names (NAMESPACE_SLOTS). An
    absent `children` is left out rather than sent as null. About 1 kB less per reply."""
    defaults = markdown_defaults(lang)

    def compact(value):
        if isinstance(value, list):
            return [compact(item) for item in value]
        if not isinstance(value, dict):
            return value
        props = value.get("props")
        if isinstance(props, dict) and "children" in props and props["children"] is None:
            props = {key: item for key, item in props.items() if key != "children"}
            value = {**value, "props": props}
        namespace = value.get("namespace")
        if (value.get("type"), namespace) == MARKDOWN_TYPE and all(
            props.get(key) == default for key, default in defaults.items()
        ):
            rest = {key: item for key, item in props.items() if key not in defaults}
            value = {**value, "props": {MARKDOWN_SLOT: True, **rest}}
        elif "props" in value:
            value = {**value, "props": compact(props)}
        if namespace in SLOT_OF_NAMESPACE:
            value = {**value, "namespace": SLOT_OF_NAMESPACE[namespace]}
        return {key: compact(item) if key != "props" else item for key, item in value.items()}

    return compact(json.loads(plotly_json.to_json_plotly(view)))


def finished_turn(
    entries: list[dict],
    *,
    question: str,
    question_index: int,
    retry: bool,
    start: int,
    lang: str,
    persona,
    next_turn_id: str = NEXT_TURN_SLOT,
    versions: dict[int, tuple[int, int]] | None = None,
    feedback: bool = False,
    attachments: list[dict] | None = None,
) -> dict:
    """How the thread changes when a turn ends.

    A first question replaces the welcome screen: `{"replace": True, "children": [...]}`, the
    thread drawn anew. Otherwise `{"replace": False, "props": {...}}` are the new props of the
    turn's container (components/thread.py): the empty one at the end for a new question, the
    failed one for a retry. Its children end with the next turn's empty container, whose id
    is `next_turn_id` (the page knows the turn's number; the server need not). `start` is where
    the context starts (the turn's context line shows when it starts here). `versions`: the
    turn's messages that have versions (a regenerated reply, an edited question). `feedback`:
    the reply offers 👍 / 👎 (records on). `attachments`: the question's (their refs), drawn
    above its words.
    """
    asked: dict = {"role": "user", "content": question}
    if attachments:
        asked["attachments"] = attachments
    turn = [asked, *entries]
    if question_index == 0 and not retry:
        children = render_thread(
            turn,
            lang=lang,
            streaming=False,
            persona=persona,
            versions=versions,
            feedback=feedback,
        )
        return {"replace": True, "children": children}
    [(index, messages)] = entry_messages(
        turn,
        lang=lang,
        streaming=False,
        offset=question_index,
        versions=versions,
        feedback=feedback,
    )
    inside = [*turn_children(messages, lang=lang), html.Div(id=next_turn_id, className=TURN_CLASS)]
    container = turn_container("", index, inside, start=start).to_plotly_json()["props"]
    container.pop("id")
    return {"replace": False, "props": container}
