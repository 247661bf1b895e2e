"""The shapes callbacks accept from the page (pydantic), checked by `api.callback_guard.typed`.

A value of the wrong shape (a list for a conversation id, a number for the browser's records)
is refused with a 400 before it reaches the records, instead of failing inside them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

# new_id() makes 32 hex digits; the schema's limit (64) and a plain charset leave room for
# ids an older page kept in the browser.
ConversationId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Lang = Annotated[str, StringConstraints(max_length=16)]
Text = Annotated[str, StringConstraints(max_length=100_000)]


class LocalConversation(BaseModel):
    """One conversation in the browser's own copy (RECORDS_ENABLED=false)."""

    model_config = ConfigDict(extra="allow")

    title: str = ""
    updated_at: str = ""
    history: list[dict[str, Any]] = []


LocalRecords = dict[ConversationId, LocalConversation]


class PickedItem(BaseModel):
    """A sidebar button's pattern id: which conversation it acts on."""

    type: str
    index: ConversationId


class OpenRequest(BaseModel):
    """OPEN_REQUEST: the page asks for the server's record of a conversation."""

    id: ConversationId
    at: int = 0  # when: the same conversation asked again is a change


def local_data(local: LocalRecords | None) -> dict | None:
    """The browser's copy back as plain dicts, as BrowserRecords keeps them."""
    if local is None:
        return None
    return {cid: entry.model_dump() for cid, entry in local.items()}
