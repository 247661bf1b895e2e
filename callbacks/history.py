"""Clearing the conversation."""

from __future__ import annotations

import uuid

from dash import Input, Output, callback, ctx
from dash.exceptions import PreventUpdate

from components import ids


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.STREAMING_STORE, "data", allow_duplicate=True),
    Output(ids.NOTICE, "children", allow_duplicate=True),
    Output(ids.CONVERSATION_STORE, "data", allow_duplicate=True),
    Output(ids.THREAD_REDRAW, "data", allow_duplicate=True),
    Input(ids.CLEAR_CONFIRM, "confirmCounts"),
    Input(ids.SIDEBAR_NEW, "nClicks"),
    prevent_initial_call=True,
)
def clear_history(_confirmed, _new_chat):
    """Clear (once confirmed) and New chat: an empty thread; a streaming reply is aborted.

    The next message starts a new conversation record; the old one stays in the sidebar.
    """
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        raise PreventUpdate
    return [], None, None, None, redraw()


def redraw() -> str:
    """A new value for THREAD_REDRAW: the stored history was replaced, draw the thread whole."""
    return uuid.uuid4().hex
