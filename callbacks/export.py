"""Downloading the conversation as Markdown."""

from __future__ import annotations

import feffery_antd_components as fac
from dash import Input, Output, State, callback, clientside_callback, dcc, no_update
from dash.exceptions import PreventUpdate

from callbacks.chat import conversation_versions
from components import ids
from extensions import chat_service
from i18n import t
from services import export, export_document

# The browser's time zone, read once when the page starts; null where the browser has none.
clientside_callback(
    """() => {
        try {
            return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
        } catch (e) {
            return null;
        }
    }""",
    Output(ids.TIME_ZONE_STORE, "data"),
    Input(ids.LANG_STORE, "data"),
)


@callback(
    Output(ids.DOWNLOAD, "data"),
    Output(ids.TOAST_HOLDER, "children"),
    Input(ids.EXPORT_BUTTON, "nClicks"),
    State(ids.HISTORY_STORE, "data"),
    State(ids.LANG_STORE, "data"),
    State(ids.TIME_ZONE_STORE, "data"),
    State(ids.CONVERSATION_STORE, "data"),
    State(ids.LOCAL_RECORDS, "data"),
    prevent_initial_call=True,
)
def export_conversation(clicks, history, lang, zone=None, conversation=None, local=None):
    """Send `chat-YYYYmmdd-HHMMSS.md` to the browser, dated on the user's clock: the thread
    as shown, each message that has versions saying which one it is."""
    if not clicks:
        raise PreventUpdate
    history = history or []
    turns = [e for e in history if e.get("role") in ("user", "assistant")]
    if not turns:
        return no_update, fac.AntdMessage(content=t(lang, "export.empty"), type="info")
    now = export.user_time(zone)
    service = chat_service()
    text = export_document.document(
        history,
        lang=lang,
        prices=service.prices,
        default_model=service.default_model,
        now=now,
        versions=conversation_versions(conversation, local),
    )
    return dcc.send_string(text, export.filename(now), type="text/markdown"), no_update
