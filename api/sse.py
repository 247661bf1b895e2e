"""Server-sent events: encoding, and the coalesced "snapshot" form for the Dash page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import closing

# At most ~20 page updates a second: smooth to the eye, and cheap for a browser that
# re-renders Markdown on every update.
SNAPSHOT_INTERVAL = 0.05


def encode(event: dict) -> str:
    """One complete SSE event: a `data:` line and the blank line that ends it."""
    return f"data: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}\n\n"


def event_stream(
    events: Iterable[dict], *, snapshots: bool = False, interval: float = SNAPSHOT_INTERVAL
) -> Iterator[str]:
    """Encode service events as SSE.

    With `snapshots`, text events are merged so at most one goes out per `interval`, and each
    carries `content` (the whole reply so far) besides its `delta`: a client that sees only the
    newest event, as a Dash prop does, still shows the full text. The final event carries the
    complete `content` as well. Closing this generator closes `events` (and so the upstream).
    """
    with closing(iter(events)) as source:
        if not snapshots:
            for event in source:
                yield encode(event)
            return
        parts: list[str] = []
        pending: list[str] = []
        last_sent = float("-inf")
        for event in source:
            if "delta" in event:
                parts.append(event["delta"])
                pending.append(event["delta"])
                now = time.monotonic()
                if now - last_sent >= interval:
                    yield encode({"delta": "".join(pending), "content": "".join(parts)})
                    pending.clear()
                    last_sent = now
                continue
            if pending:
                yield encode({"delta": "".join(pending), "content": "".join(parts)})
            yield encode({**event, "content": "".join(parts)})
