"""Keep the server's record of a reply as it streams, however the stream ends."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from services import stopping
from services.conversation import STOPPED, record_result, result_from_event

log = logging.getLogger(__name__)


class Keeper(Protocol):
    """Where a reply goes on record: services.records.journal.RunningReply."""

    def add(self, delta: str) -> None: ...

    def end(self, entries: list[dict]) -> None: ...


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
    keeper: Keeper | None,
    model: str,
    *,
    finish: Callable[[dict, list[dict], str], Iterable[dict]] | None = None,
    spent: Callable[[list[dict]], None] | None = None,
) -> Iterator[dict]:
    """Pass `events` through; the reply goes to `keeper` as it streams, and its end once,
    however the stream ends.

    The end is `record_result`'s entries: the reply when it finishes, the error (and any text)
    when it fails, and, when it is abandoned (the user pressed stop, closed the tab, lost the
    network), the text generated so far marked stopped, so nothing is lost. A stream the
    server ended because it is stopping (services/stopping.py) gets SERVER_STOPPING as its
    final event, its text marked interrupted. `finish(final, entries, reply)` yields what goes
    out in place of the final event (by default the event itself); the write comes after, so
    the reader need not wait for it. `spent(entries)` (the reply's usage: api/usage.py) is told
    once too: before the final event goes out, so a next request's quota counts this reply.
    """
    parts: list[str] = []
    ended: list[dict] | None = None
    counted = False
    source = iter(events)

    def count(entries: list[dict]) -> None:
        nonlocal counted
        if spent is None or counted:
            return
        counted = True
        try:
            spent(entries)
        except Exception:
            log.exception("could not count the usage of a reply")

    def final(event: dict) -> Iterator[dict]:
        nonlocal ended
        reply = "".join(parts)
        ended = record_result([], result_from_event(event, reply), model=model)
        # Counted before anyone hears the reply ended: the next request's quota sees it.
        count(ended)
        if finish is None:
            yield event
        else:
            yield from finish(event, ended, reply)

    try:
        for event in source:
            if "delta" not in event:
                yield from final(event)
                continue
            parts.append(event["delta"])
            yield event
            # After the text has gone: a batch write never delays it (services/records/journal).
            if keeper is not None:
                keeper.add(event["delta"])
        if ended is None and stopping.stopping():
            yield from final(stopping.STOPPING_EVENT)  # the server cancelled the stream
    finally:
        if ended is None:
            ended = record_result([], {"status": STOPPED, "content": "".join(parts)}, model=model)
        if keeper is not None:
            try:
                keeper.end(ended)
            except Exception:
                log.exception("could not store the end of a reply")
        count(ended)
        close = getattr(source, "close", None)
        if close is not None:
            close()
