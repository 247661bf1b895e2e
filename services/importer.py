"""Importing an exported conversation into the records, once.

The imported conversation's id comes from its owner and the file's fingerprint
(services/export_meta.py), so importing the same export again finds the conversation the first
import made instead of making a copy. Works on the server's records and on the browser's own
copy (BrowserRecords) alike.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from services.export_meta import fingerprint, import_id


class Store(Protocol):
    """What an import needs of `Records` or `BrowserRecords`."""

    def create_conversation(self, owner: str, *, proposed_id: str | None = None) -> str: ...

    def add_message(self, owner: str, conversation_id: str, entry: dict) -> bool: ...

    def history(self, owner: str, conversation_id: str) -> list[dict] | None: ...


class Imported(NamedTuple):
    """Where the file's conversation is, and its history as the records now hold it."""

    conversation_id: str
    history: list[dict]
    already_there: bool


def import_once(store: Store, owner: str, entries: list[dict]) -> Imported:
    """Put `entries` (read from an export) on record as a new conversation, unless this owner
    imported the same conversation before and still has it: then that one is returned. One
    cleared since (no messages left) takes the file's messages again."""
    wanted = import_id(owner, fingerprint(entries))
    kept = store.history(owner, wanted)
    if kept:
        return Imported(wanted, kept, True)
    if kept is None:
        conversation_id = store.create_conversation(owner, proposed_id=wanted)
    else:
        conversation_id = wanted
    for entry in entries:
        store.add_message(owner, conversation_id, entry)
    return Imported(conversation_id, list(entries), False)
