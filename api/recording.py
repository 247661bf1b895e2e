"""Keep the server's record of a reply, however the stream ends."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator

from services.conversation import STOPPED, record_result, result_from_event

log = logging.getLogger(__name__)


def record_question(
    store, owner: str, conversation_id: str | None, asked: dict, *, model: str, persona, retry: bool
) -> str:
    """Store the page's question in its conversation record (made on first use); the id.

    The page names a new conversation itself (so it knows the id without waiting for the
    server); the record takes that id unless it is malformed or taken. Without server records
    (`store` None) the id names the browser's own copy (see callbacks/sidebar.py). A retried
    question is already on record, unless the record is new.
    """
    if store is None:
        return conversation_id or uuid.uuid4().hex
    if not conversation_id or store.conversation(owner, conversation_id) is None:
        conversation_id = store.create_conversation(
            owner, model=model, persona=persona, proposed_id=conversation_id
        )
        retry = False
    if not retry:
        store.add_message(owner, conversation_id, asked)
    return conversation_id


def store_result(store, owner: str, conversation_id: str, model: str, result: dict) -> None:
    """Add how a turn ended (a reply, an error, or both) to the conversation's record."""
    try:
        for entry in record_result([], result, model=model):
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
        store_result(store, owner, conversation_id, model, result)

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
