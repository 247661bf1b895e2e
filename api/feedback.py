"""👍 / 👎 on a finished reply, from the page (assets/chat.js): `POST /api/chat/feedback`.

The choice is stored with the reply in the server's records (services/records/repository.py
`set_feedback`, where the rule is). Without records there is nowhere to keep it: the page then
shows no buttons, and this route answers 404 like for a conversation that is not the caller's.
"""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.identity import current_identity
from api.responses import error_response
from api.running import ID_PATTERN, NO_STORE
from extensions import records
from services.feedback import MAX_COMMENT_CHARS, Value

feedback_bp = Blueprint("feedback", __name__)

Position = Annotated[int, Field(ge=0, le=1_000_000)]


class FeedbackRequest(BaseModel):
    """The body of POST /api/chat/feedback."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str = Field(pattern=ID_PATTERN)
    at: Position  # the reply's place in the page's thread (its `data-index`)
    # How long the page's thread is: positions are the record's only when the page shows it.
    length: Position
    value: Value | None  # None clears the choice
    comment: Annotated[str, Field(max_length=MAX_COMMENT_CHARS)] | None = None


class FeedbackAnswer(BaseModel):
    """The reply's feedback as stored (all None once cleared)."""

    feedback: Value | None
    feedback_comment: str | None = None
    feedback_at: str | None = None


@feedback_bp.post("/api/chat/feedback")
def give_feedback():
    """Store the caller's 👍 / 👎 on one reply (200, with what is stored); 404 when there is
    no such finished reply of theirs where the page said (a conversation that is not theirs
    answers the same, so ids cannot be probed), or when the server keeps no records."""
    try:
        asked = FeedbackRequest.model_validate_json(request.get_data(cache=False))
    except ValidationError:
        return error_response(
            400,
            "invalid_request",
            "Send {conversation_id, at, length, value: up|down|null, comment?} "
            f"(a comment has at most {MAX_COMMENT_CHARS} characters).",
        )
    store = records()
    stored = None
    if store is not None:
        stored = store.set_feedback(
            current_identity(),
            asked.conversation_id,
            asked.at,
            asked.value,
            asked.comment,
            length=asked.length,
        )
    if stored is None:
        return error_response(404, "not_found", "No finished reply there to rate.")
    return jsonify(FeedbackAnswer(**stored).model_dump()), 200, NO_STORE
