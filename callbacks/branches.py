"""Regenerate, edit, and `‹ k / n ›` (issue 16): versions of a conversation's messages.

The page asks (assets/chat.js sets BRANCH_REQUEST: a click on regenerate, an edit sent, an
arrow of a message's versions); here the conversation is forked or switched where it is kept
(the server's records, or the browser's copy when records are off: the same rule,
services/branches.py), and the page's thread follows:
- a switch replaces the thread (THREAD_REDRAW draws it whole, with its versions);
- a fork draws the thread as it now is, without the forked messages, and asks the page to
  start the turn (ASK_REQUEST): a regenerate is a retry of the newest question, an edit the
  edited text asked as a new question. That turn is the one upstream request; a switch makes
  none.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, no_update
from dash.exceptions import PreventUpdate
from pydantic import BaseModel, ConfigDict, Field

from api.callback_guard import typed
from api.identity import current_identity
from callbacks.chat import REQUEST_CHOICES, conversation_store, thread_view
from callbacks.history import redraw
from callbacks.inputs import ConversationId, LocalRecords, local_data
from components import ids
from components.message import LIVE_IDLE_CLASS, notice
from extensions import chat_service
from services.branches import editable, regenerate_at, versions
from services.input_rules import input_problem
from services.records.browser import BrowserRecords

Position = Annotated[int, Field(ge=0, le=1_000_000)]


class BranchRequest(BaseModel):
    """What the page asks (assets/chat.js `askBranch`)."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["regenerate", "edit", "switch"]
    at: Position  # the message's index in the thread
    version: Position | None = None  # switch: which version, from 0
    text: Annotated[str, Field(max_length=100_000)] | None = None  # edit: the new question
    stamp: int = 0  # the same request asked again is a change
    # How long the page's thread is: a page whose thread is not the record's (a retry's
    # error the record kept, a turn the records could not save) is shown the record first.
    length: Position | None = None


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.LOCAL_RECORDS, "data", allow_duplicate=True),
    Output(ids.THREAD_REDRAW, "data", allow_duplicate=True),
    Output(ids.HISTORY_LIST, "children", allow_duplicate=True),
    Output(ids.LIVE_QUESTION, "className", allow_duplicate=True),
    Output(ids.HEADER_USAGE, "children", allow_duplicate=True),
    Output(ids.USAGE_TOTALS, "data", allow_duplicate=True),
    Output(ids.CONTEXT_TOKENS, "data", allow_duplicate=True),
    Output(ids.HISTORY_START, "data", allow_duplicate=True),
    Output(ids.TURN_NUMBER, "data", allow_duplicate=True),
    Output(ids.ASK_REQUEST, "data"),
    Output(ids.NOTICE, "children", allow_duplicate=True),
    Output(ids.OPEN_REQUEST, "data", allow_duplicate=True),
    Input(ids.BRANCH_REQUEST, "data"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.CONVERSATION_STORE, "data"),
    State(ids.LOCAL_RECORDS, "data"),
    *REQUEST_CHOICES,
    prevent_initial_call=True,
)
@typed
def change_version(
    request: BranchRequest | None,
    streaming: Any,
    conversation: ConversationId | None,
    local: LocalRecords | None,
    *choices: Any,
):
    """Fork (regenerate, edit) or switch the open conversation; see the module docstring.

    Refused, with nothing changed, while a reply streams, or when the message is not where
    the page said (a stale page): the page's own thread stays as it is.
    """
    if request is None or streaming or not conversation:
        raise PreventUpdate
    store = conversation_store(local_data(local))
    if store is None:
        raise PreventUpdate
    owner = current_identity()
    history = store.history(owner, conversation)
    if history is None:
        raise PreventUpdate
    at = request.at
    if request.length is not None and request.length != len(history):
        # Positions name messages of the page's thread: they are the record's once it shows
        # the record (opened as at load: callbacks/sidebar.py). Nothing is forked or
        # switched; the user asks again on what they see.
        if isinstance(store, BrowserRecords):
            return history, no_update, redraw(), *[no_update] * 10
        return *[no_update] * 12, {"id": conversation, "at": request.stamp}
    if request.action == "switch":
        if request.version is None:
            raise PreventUpdate
        changed = store.switch_version(owner, conversation, at, request.version)
        if changed is None:
            return _refused(choices)
        kept = _kept_locally(store)
        return changed, kept, redraw(), *[no_update] * 10

    if request.action == "regenerate":
        at = regenerate_at(history, at)
        if at is None:
            raise PreventUpdate
        ask: dict = {"retry": at - 1}
    else:
        service = chat_service()
        if not editable(history, at) or input_problem(
            request.text or "", service.settings.max_input_chars
        ):
            raise PreventUpdate  # the page said why before asking (assets/chat.js)
        ask = {"text": request.text}
        # The edited question keeps its files (as ChatGPT's edit does): the new turn sends them.
        if history[at].get("attachments"):
            ask["attachments"] = history[at]["attachments"]
    changed = store.fork(owner, conversation, at)
    if changed is None:
        return _refused(choices)
    shown = versions(store.branches(owner, conversation))
    # The messages the turn will draw show which version they are: the question (a
    # regenerate's may have versions of its own, from an edit) and what is at `at`.
    drawn = (at - 1, at) if request.action == "regenerate" else (at,)
    ask["versions"] = {str(i): list(shown[i]) for i in drawn if i in shown} or None
    ask["stamp"] = request.stamp
    # Drawn as while streaming: the question a regenerate asks again has no "interrupted"
    # notice, since its turn starts now, from this very state.
    view = thread_view(changed, streaming=True, choices=choices, versions=shown)
    return (
        changed,
        _kept_locally(store),
        no_update,
        view.children,
        LIVE_IDLE_CLASS,
        view.usage,
        view.totals,
        view.context,
        view.start,
        view.turns,
        ask,
        None,
        no_update,
    )


def _refused(choices) -> tuple:
    """The record refused (a reply is being written in this conversation, e.g. from another
    tab): nothing changed, and the page says so rather than ignoring the click."""
    lang = choices[1] or "en"
    return *[no_update] * 11, notice("versions.busy", lang=lang), no_update


def _kept_locally(store) -> object:
    """The browser's copy to write back (nothing when the server is the record)."""
    return store.data if isinstance(store, BrowserRecords) else no_update


# The fork's turn starts in the page, through the one turn path (assets/chat.js startTurn).
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="askNow"),
    Output(ids.INPUT_PROBLEM, "data", allow_duplicate=True),
    Input(ids.ASK_REQUEST, "data"),
    prevent_initial_call=True,
)
