"""Keep the server's record of a reply, however the stream ends."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

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
    events: Iterable[dict],
    keep: Callable[[list[dict]], None],
    model: str,
    *,
    finish: Callable[[dict, list[dict], str], Iterable[dict]] | None = None,
) -> Iterator[dict]:
    """Pass `events` through; `keep(entries)` once, however the stream ends.

    The entries are `record_result`'s: the reply when it finishes, the error (and any text)
    when it fails, and, when it is abandoned (the user pressed stop, closed the tab, lost the
    network), the text generated so far marked stopped, so nothing is lost. `finish(final,
    entries, reply)` yields what goes out in place of the final event (by default the event
    itself); the write comes after, so the reader need not wait for it.
    """
    parts: list[str] = []
    ended: list[dict] | None = None
    source = iter(events)
    try:
        for event in source:
            if "delta" in event:
                parts.append(event["delta"])
                yield event
                continue
            reply = "".join(parts)
            ended = record_result([], result_from_event(event, reply), model=model)
            if finish is None:
                yield event
            else:
                yield from finish(event, ended, reply)
    finally:
        if ended is None:
            ended = record_result([], {"status": STOPPED, "content": "".join(parts)}, model=model)
        keep(ended)
        close = getattr(source, "close", None)
        if close is not None:
            close()
