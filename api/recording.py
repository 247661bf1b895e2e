"""Keep the server's record of a reply, however the stream ends."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from services.conversation import STOPPED, record_result, result_from_event

log = logging.getLogger(__name__)


def store_result(store, owner: str, conversation_id: str, entries: list[dict]) -> None:
    """Add how a turn ended (a reply, an error, or both: `record_result`'s entries)."""
    try:
        for entry in entries:
            store.add_message(owner, conversation_id, entry)
    except Exception:
        # The reply still reaches the user; a failed write is logged, not fatal.
        log.exception("could not store the reply of conversation %s", conversation_id)


def recorded(
    events: Iterable[dict], store, owner: str, conversation_id: str, model: str
) -> Iterator[dict]:
    """Pass `events` through and store the reply when it finishes, fails or is abandoned.

    Abandoned means the browser went away (the user pressed stop, closed the tab, lost the
    network): the text generated so far is kept, marked stopped, so nothing is lost.
    """
    parts: list[str] = []
    stored = False
    ended: dict | None = None

    def keep(result: dict) -> None:
        nonlocal stored
        stored = True
        store_result(store, owner, conversation_id, record_result([], result, model=model))

    source = iter(events)
    try:
        for event in source:
            if "delta" in event:
                parts.append(event["delta"])
                yield event
                continue
            # The final event goes out first: the page need not wait for the write.
            ended = result_from_event(event, "".join(parts))
            yield event
            keep(ended)
    finally:
        if not stored:
            keep(ended or {"status": STOPPED, "content": "".join(parts)})
        close = getattr(source, "close", None)
        if close is not None:
            close()
