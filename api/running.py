"""A reply still being written, for a page that was not there when it started: read it, or
stop it.

A page turn's reply goes on when the page leaves (a reload, a closed tab, a lost network: see
api/page_turn.py `keep_going`); it is on record as it arrives (services/records/journal.py).
A page that comes back to the conversation reads its text here until it ends, and Stop, on
that page or on the one that asked, marks it stopped here: the process writing it, whichever
it is, then ends it with the text it has.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.identity import current_identity
from api.responses import error_response
from extensions import journal, records

running_bp = Blueprint("running", __name__)

NO_STORE = {"Cache-Control": "no-store"}


# As callbacks/inputs.py ConversationId: what an id of this app can look like.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class StopRequest(BaseModel):
    """The body of POST /api/chat/stop, and the query of GET /api/chat/running."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str = Field(pattern=ID_PATTERN)


def _refused():
    return error_response(400, "invalid_request", 'Name the conversation: "conversation_id".')


class RunningReply(BaseModel):
    """What GET /api/chat/running answers: the reply's text as last recorded, while it is
    still being written (`streaming`); once it has ended, the page reads the conversation."""

    streaming: bool
    content: str = ""
    model: str | None = None


@running_bp.get("/api/chat/running")
def running_reply():
    """The reply still being written in `?conversation_id=`. A conversation that is not the
    caller's answers as one with nothing running, so ids cannot be probed."""
    try:
        asked = StopRequest.model_validate(request.args.to_dict())
    except ValidationError:
        return _refused()
    store = records()
    owner = current_identity()
    found = store.running_reply(owner, asked.conversation_id) if store else None
    writer = journal()
    if found is not None and writer is not None and writer.sweep_if_due():
        # Its writer may be the one just found dead (another instance, killed mid-reply).
        found = store.running_reply(owner, asked.conversation_id)
    answer = RunningReply(streaming=found is not None, **(found or {}))
    return jsonify(answer.model_dump()), 200, NO_STORE


@running_bp.post("/api/chat/stop")
def stop_reply():
    """Stop the caller's reply still being written in a conversation (202), from any process.

    Answers 202 whether or not one was running (it may have just ended), so ids cannot be
    probed. Without records there is nothing to mark: hanging up the stream stops it.
    """
    try:
        wanted = StopRequest.model_validate_json(request.get_data(cache=False))
    except ValidationError:
        return _refused()
    store = records()
    if store is not None:
        store.request_stop(current_identity(), wanted.conversation_id)
    return "", 202, NO_STORE
