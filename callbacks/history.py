"""Clearing the conversation."""

from __future__ import annotations

from dash import Input, Output, callback
from dash.exceptions import PreventUpdate

from components import ids


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.STREAM_HOLDER, "children", allow_duplicate=True),
    Output(ids.STREAMING_STORE, "data", allow_duplicate=True),
    Output(ids.NOTICE, "children", allow_duplicate=True),
    Output(ids.CONVERSATION_STORE, "data", allow_duplicate=True),
    Input(ids.CLEAR_CONFIRM, "confirmCounts"),
    prevent_initial_call=True,
)
def clear_history(confirmed):
    """Empty the thread and the stored context; a reply still streaming is aborted.

    The next message starts a new conversation record; the old one stays on the server.
    """
    if not confirmed:
        raise PreventUpdate
    return [], [], None, None, None
