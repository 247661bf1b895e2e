"""Server-sent events: encoding, and the coalesced "snapshot" form for the Dash page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator

# At most ~20 page updates a second: smooth to the eye, and cheap for a browser that
# re-renders Markdown on every update.
SNAPSHOT_INTERVAL = 0.05


def encode(event: dict) -> str:
    """One complete SSE event: a `data:` line and the blank line that ends it."""
    return f"data: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}\n\n"


def event_stream(
    events: Iterable[dict], *, snapshots: bool = False, interval: float = SNAPSHOT_INTERVAL
) -> Iterator[str]:
    """Encode service events as SSE, always ending with one final `done` or `error` event.

    With `snapshots`, text events are merged so at most one goes out per `interval`, and each
    carries `content` (the whole reply so far) besides its `delta`: a client that sees only the
    newest event, as a Dash prop does, still shows the full text. The final event carries the
    complete `content` as well. Closing this generator closes `events` (and so the upstream).
    """
    source = iter(events)
    parts: list[str] = []
    pending: list[str] = []
    last_sent = float("-inf")

    def text_event() -> dict:
        event = {"delta": "".join(pending)}
        if snapshots:
            event["content"] = "".join(parts)
        pending.clear()
        return event

    try:
        for event in source:
            if "delta" not in event:
                if pending:
                    yield encode(text_event())
                yield encode({**event, "content": "".join(parts)} if snapshots else event)
                return
            parts.append(event["delta"])
            pending.append(event["delta"])
            now = time.monotonic()
            if not snapshots or now - last_sent >= interval:
                yield encode(text_event())
                last_sent = now
        # The source ended without saying how: never leave a client waiting for a final event.
        if pending:
            yield encode(text_event())
        final = {"error": {"message": "The reply ended unexpectedly.", "type": "stream_cut"}}
        yield encode({**final, "content": "".join(parts)} if snapshots else final)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
