"""The browser end of one streamed reply."""

from __future__ import annotations

import feffery_utils_components as fuc
from dash import get_relative_path

from components import ids


def event_source_template() -> fuc.FefferyPostEventSource:
    """The stream component, less its `key` and `body`, which the browser adds per turn.

    It POSTs the request to the SSE route as soon as it mounts; unmounting aborts it. The page
    asks for `snapshots`: events that each carry the whole reply so far, because a Dash prop
    only shows the newest event, and events that arrive together would otherwise be lost.
    """
    return fuc.FefferyPostEventSource(
        id=ids.EVENT_SOURCE,
        url=get_relative_path("/api/chat/stream"),
        headers={"Content-Type": "application/json"},
        immediate=True,
        autoReconnect=False,
    )
