"""Clear and New chat: the two ways to an empty thread.

Clear empties the open conversation where it is kept (the server's records, or the browser's
own copy when records are off) and the page stays on it; New chat leaves the old conversation
as it is and the next question starts another.
"""

from __future__ import annotations

import uuid
from typing import Any

from dash import Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate

from api.callback_guard import typed
from api.identity import current_identity
from callbacks.inputs import ConversationId, LocalRecords, local_data
from components import ids
from extensions import records
from services.records.browser import BrowserRecords


def _triggered() -> None:
    """Go on only for a real click or confirm (a component that merely appeared is not one)."""
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        raise PreventUpdate


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.STREAMING_STORE, "data", allow_duplicate=True),
    Output(ids.NOTICE, "children", allow_duplicate=True),
    Output(ids.THREAD_REDRAW, "data", allow_duplicate=True),
    Output(ids.SIDEBAR_REFRESH, "data", allow_duplicate=True),
    Output(ids.LOCAL_RECORDS, "data", allow_duplicate=True),
    Input(ids.CLEAR_CONFIRM, "confirmCounts"),
    State(ids.CONVERSATION_STORE, "data"),
    State(ids.SIDEBAR_REFRESH, "data"),
    State(ids.LOCAL_RECORDS, "data"),
    prevent_initial_call=True,
)
@typed
def clear_history(
    _confirmed: Any, active: ConversationId | None, refresh: int | None, local: LocalRecords | None
):
    """Clear, once confirmed: the open conversation loses its messages on record too.

    The page stays on it, empty (so the totals reset and the persona may be picked again);
    the sidebar no longer lists it until its next question. A streaming reply is aborted
    (its late writes find their question gone: Records.clear).
    """
    _triggered()
    kept = no_update
    if active:
        store = records()
        if store is None:
            store = BrowserRecords(local_data(local))
            kept = store.data if store.clear(current_identity(), active) else no_update
        else:
            store.clear(current_identity(), active)
    return [], None, None, redraw(), (refresh or 0) + 1, kept


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.STREAMING_STORE, "data", allow_duplicate=True),
    Output(ids.NOTICE, "children", allow_duplicate=True),
    Output(ids.CONVERSATION_STORE, "data", allow_duplicate=True),
    Output(ids.THREAD_REDRAW, "data", allow_duplicate=True),
    Input(ids.SIDEBAR_NEW, "nClicks"),
    prevent_initial_call=True,
)
def new_chat(_clicks):
    """New chat: an empty thread; a streaming reply is aborted.

    The next message starts a new conversation record; the old one stays in the sidebar.
    """
    _triggered()
    return [], None, None, None, redraw()


def redraw() -> str:
    """A new value for THREAD_REDRAW: the stored history was replaced, draw the thread whole."""
    return uuid.uuid4().hex
