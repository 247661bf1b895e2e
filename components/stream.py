"""The browser end of one streamed reply."""

from __future__ import annotations

import json

import feffery_utils_components as fuc
from dash import get_relative_path

from components import ids


def event_source(turn: str, request: dict) -> fuc.FefferyPostEventSource:
    """POSTs the request to the SSE route as soon as it mounts; unmounting aborts it.

    `snapshots` asks for events that each carry the whole reply so far: a Dash prop only
    shows the newest event, and events that arrive together would otherwise be lost.
    """
    return fuc.FefferyPostEventSource(
        id=ids.EVENT_SOURCE,
        key=turn,
        url=get_relative_path("/api/chat/stream"),
        body=json.dumps({**request, "snapshots": True}, ensure_ascii=False),
        headers={"Content-Type": "application/json"},
        immediate=True,
        autoReconnect=False,
    )
