"""The conversation sidebar: list, switch, rename, delete, search, import.

New chat is in callbacks/history.py, beside Clear.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import feffery_antd_components as fac
from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    ctx,
    no_update,
)
from dash.exceptions import PreventUpdate

from api.callback_guard import typed
from api.identity import current_identity
from callbacks.history import redraw
from callbacks.inputs import (
    ConversationId,
    Lang,
    LocalRecords,
    OpenRequest,
    PickedItem,
    Text,
    local_data,
)
from components import ids
from components.message import notice
from components.sidebar import conversation_list
from extensions import records
from i18n import t
from services import export
from services.conversation import STREAMING
from services.importer import import_once
from services.records.browser import BrowserRecords


def _store(local: LocalRecords | None):
    """The server's records, or the browser's own copy when the server keeps none."""
    return records() or BrowserRecords(local_data(local))


def _kept_locally(store) -> object:
    """What to write back to the browser's copy (nothing when the server is the record)."""
    return store.data if isinstance(store, BrowserRecords) else no_update


def _clicked() -> str:
    """The conversation whose button was really clicked (a button that merely appeared is not
    a click); a pattern id of another shape is a ValidationError, answered with a 400."""
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        raise PreventUpdate
    return PickedItem.model_validate(ctx.triggered_id).index


@callback(
    Output(ids.SIDEBAR_LIST, "children"),
    Input(ids.CONVERSATION_STORE, "data"),
    Input(ids.SIDEBAR_SEARCH, "debounceValue"),
    Input(ids.SIDEBAR_REFRESH, "data"),
    Input(ids.LOCAL_RECORDS, "data"),
    State(ids.LANG_STORE, "data"),
)
@typed
def show_conversations(
    active: ConversationId | None,
    query: Text | None,
    _refresh: Any,
    local: LocalRecords | None,
    lang: Lang | None,
):
    """This browser's conversations, newest first, grouped by day.

    Redrawn when the list changes: a reply was stored (finish_reply bumps SIDEBAR_REFRESH),
    the browser's own copy changed (records off), another conversation was opened, a search.
    """
    store = _store(local)
    found = store.list_conversations(current_identity(), query=(query or "").strip() or None)
    return conversation_list(found, active=active, lang=lang, now=datetime.now().astimezone())


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.CONVERSATION_STORE, "data", allow_duplicate=True),
    Output(ids.NOTICE, "children", allow_duplicate=True),
    Output(ids.THREAD_REDRAW, "data", allow_duplicate=True),
    Output(ids.STREAMING_STORE, "data", allow_duplicate=True),
    Input({"type": ids.SIDEBAR_ITEM, "index": ALL}, "n_clicks"),
    Input(ids.OPEN_REQUEST, "data"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.LOCAL_RECORDS, "data"),
    prevent_initial_call=True,
)
@typed
def open_conversation(
    _clicks: Any, requested: OpenRequest | None, streaming: Any, local: LocalRecords | None
):
    """Load a conversation into the page from its record: a click in the list, or the page
    asking (OPEN_REQUEST: at load, when a reply it followed has ended, and when its own
    reply's stream broke: the record says how the reply went on).

    With records on, a reply the server is still writing (its page left mid-reply) is not
    drawn as a message: the page follows it in the live bubble until it ends (`following`).
    """
    asked = ctx.triggered_id == ids.OPEN_REQUEST
    if asked and (requested is None or records() is None):
        raise PreventUpdate
    picked = requested.id if asked else _clicked()
    if not asked and streaming and not streaming.get("follow"):
        raise PreventUpdate  # the page's own reply: finish or stop it first
    store = _store(local)
    history = store.history(current_identity(), picked)
    if history is None:
        if not asked:
            raise PreventUpdate
        # Deleted (or cleared away) elsewhere: the page's copy is stale.
        return [], None, None, redraw(), None
    history, follow = following(history, picked)
    return history, picked, None, redraw(), follow


def following(history: list[dict], conversation_id: str) -> tuple[list[dict], dict | None]:
    """The thread to draw, and the streaming state of a page following the reply the server
    is still writing at its end (None when nothing is being written)."""
    last = history[-1] if history else {}
    if last.get("role") == "assistant" and last.get("status") == STREAMING:
        return history[:-1], {"follow": conversation_id, "turn": f"follow-{conversation_id}"}
    return history, None


@callback(
    Output(ids.SIDEBAR_REFRESH, "data", allow_duplicate=True),
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.CONVERSATION_STORE, "data", allow_duplicate=True),
    Output(ids.LOCAL_RECORDS, "data", allow_duplicate=True),
    Output(ids.THREAD_REDRAW, "data", allow_duplicate=True),
    Input({"type": ids.SIDEBAR_DELETE, "index": ALL}, "confirmCounts"),
    State(ids.CONVERSATION_STORE, "data"),
    State(ids.SIDEBAR_REFRESH, "data"),
    State(ids.LOCAL_RECORDS, "data"),
    prevent_initial_call=True,
)
@typed
def delete_conversation(
    _confirmed: Any, active: ConversationId | None, refresh: int | None, local: LocalRecords | None
):
    """Delete a conversation for good; deleting the open one empties the thread."""
    picked = _clicked()
    store = _store(local)
    if not store.delete(current_identity(), picked):
        raise PreventUpdate
    if picked == active:
        return (refresh or 0) + 1, [], None, _kept_locally(store), redraw()
    return (refresh or 0) + 1, no_update, no_update, _kept_locally(store), no_update


@callback(
    Output(ids.RENAME_MODAL, "visible"),
    Output(ids.RENAME_INPUT, "value"),
    Output(ids.RENAME_TARGET, "data"),
    Input({"type": ids.SIDEBAR_RENAME, "index": ALL}, "nClicks"),
    State(ids.LOCAL_RECORDS, "data"),
    prevent_initial_call=True,
)
@typed
def ask_new_title(_clicks: Any, local: LocalRecords | None):
    """Open the rename dialog with the current title."""
    picked = _clicked()
    found = _store(local).conversation(current_identity(), picked)
    if found is None:
        raise PreventUpdate
    return True, found["title"], picked


@callback(
    Output(ids.SIDEBAR_REFRESH, "data", allow_duplicate=True),
    Output(ids.LOCAL_RECORDS, "data", allow_duplicate=True),
    Input(ids.RENAME_MODAL, "okCounts"),
    State(ids.RENAME_TARGET, "data"),
    State(ids.RENAME_INPUT, "value"),
    State(ids.SIDEBAR_REFRESH, "data"),
    State(ids.LOCAL_RECORDS, "data"),
    prevent_initial_call=True,
)
@typed
def rename_conversation(
    saved: int | None,
    target: ConversationId | None,
    title: Text | None,
    refresh: int | None,
    local: LocalRecords | None,
):
    """Save the new title."""
    store = _store(local)
    if not saved or not target or not (title or "").strip():
        raise PreventUpdate
    store.rename(current_identity(), target, title.strip()[:200])
    return (refresh or 0) + 1, _kept_locally(store)


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.CONVERSATION_STORE, "data", allow_duplicate=True),
    Output(ids.NOTICE, "children", allow_duplicate=True),
    Output(ids.LOCAL_RECORDS, "data", allow_duplicate=True),
    Output(ids.THREAD_REDRAW, "data", allow_duplicate=True),
    Output(ids.TOAST_HOLDER, "children", allow_duplicate=True),
    # Emptied once read, so choosing the same file again is a change, and imports (once).
    Output(ids.SIDEBAR_IMPORT, "contents"),
    Input(ids.SIDEBAR_IMPORT, "contents"),
    State(ids.SIDEBAR_IMPORT, "filename"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.LANG_STORE, "data"),
    State(ids.LOCAL_RECORDS, "data"),
    prevent_initial_call=True,
)
@typed
def import_conversation(
    contents: str | None,
    filename: Text | None,
    streaming: Any,
    lang: Lang | None,
    local: LocalRecords | None,
):
    """Continue a conversation from a Markdown file this app exported.

    The same file imported again opens the conversation the first import made (and says so)
    instead of adding a copy.
    """
    if not contents or streaming:
        raise PreventUpdate
    entries = read_export(contents)
    if not entries:
        refused = notice("import.not_ours", lang=lang, name=filename or "?")
        return no_update, no_update, refused, no_update, no_update, no_update, None
    store = _store(local)
    done = import_once(store, current_identity(), entries)
    said = no_update
    if done.already_there:
        words = t(lang, "import.already", name=filename or "?")
        said = fac.AntdMessage(content=words, type="info")
    return done.history, done.conversation_id, None, _kept_locally(store), redraw(), said, None


def keep_in_browser(app) -> None:
    """With no server records (RECORDS_ENABLED=false), the browser's copy follows the thread.

    In the browser (assets/chat.js keepInBrowser, the same rule as BrowserRecords.save_history),
    so a turn does not send the thread and every kept conversation to the server and back.
    Registered on the app, and only then: with records on it would be one more callback per
    change of the thread, for nothing.
    """
    app.clientside_callback(
        ClientsideFunction(namespace="chat", function_name="keepInBrowser"),
        Output(ids.LOCAL_RECORDS, "data", allow_duplicate=True),
        Input(ids.HISTORY_STORE, "data"),
        State(ids.CONVERSATION_STORE, "data"),
        State(ids.LOCAL_RECORDS, "data"),
        # The persona a conversation's questions were sent with: opening it shows it again.
        State(ids.PERSONA_SELECT, "value"),
        State(ids.PERSONA_CUSTOM_PROMPT, "value"),
        prevent_initial_call=True,
    )


def read_export(contents: str) -> list[dict]:
    """The turns of an uploaded export (a data: URL), or [] when it is not one of ours."""
    try:
        _, encoded = contents.split(",", 1)
        text = base64.b64decode(encoded).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return []
    entries = export.from_markdown(text)
    # Only a file with at least one question is a conversation worth continuing.
    return entries if any(e["role"] == "user" for e in entries) else []


clientside_callback(
    # Toggled means hidden on a wide screen and shown on a phone (see style.css).
    """(clicks) => clicks % 2 ? "chat-sidebar chat-sidebar-toggled" : "chat-sidebar\"""",
    Output(ids.SIDEBAR, "className"),
    Input(ids.SIDEBAR_TOGGLE, "nClicks"),
    prevent_initial_call=True,
)
