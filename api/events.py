"""The stream route's events and the thread's entries, as typed models.

`ChatService.stream` yields plain dicts (the SDK's pace leaves no room for validation per
token); these models say what those dicts are, give the OpenAPI document its schemas
(api/openapi.py), and build the parts of a page turn's events that the server decides
(api/page_turn.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.attachments.models import AttachmentRef


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Usage(_Event):
    """Tokens of one reply: the upstream's own count, or a local one marked `estimated`."""

    model_config = ConfigDict(extra="allow")  # the upstream may report more detail
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    estimated: bool | None = Field(default=None, description="A local count: upstream sent none.")


class Context(_Event):
    """How much of the conversation the reply was written from."""

    dropped_rounds: int = Field(ge=0, description="Earlier rounds left out.")
    retried: bool = Field(description="The upstream found it too long; retried with less.")


class ErrorObject(_Event):
    """Every error of the /api routes, in plain words."""

    model_config = ConfigDict(extra="allow")
    message: str = Field(description="What went wrong, in plain words.")
    type: str = Field(description="invalid_request, not_found, unauthorized, timeout...")
    detail: str | None = Field(default=None, description="The upstream's own message.")
    retry_after: int | None = Field(default=None, description="Seconds to wait, on a 429.")


class HistoryEntry(_Event):
    """One entry of a conversation's thread, as the page and the records keep it
    (services/conversation.py)."""

    model_config = ConfigDict(extra="allow")
    role: Literal["user", "assistant", "error"]
    content: str | None = None
    # assistant: who wrote it, its tokens, how it ended (done, length, stopped, cut)
    model: str | None = None
    usage: Usage | None = None
    status: str | None = None
    context: Context | None = None
    # user: where the context of its request started (older entries are dimmed)
    context_from: int | None = None
    # error: what went wrong (a key of the page's error texts) and the upstream's words
    kind: str | None = None
    detail: str | None = None
    retry_after: int | None = None


class PlannedTurn(_Event):
    """How the server planned a page turn: the first event of its stream says so."""

    conversation_id: str = Field(description="The conversation the turn is recorded in.")
    context_from: int = Field(ge=0, description="The first entry of the thread still sent.")
    model: str
    saved: bool | None = Field(
        default=None,
        description="False: the server's records cannot be written now, so this conversation "
        "is not being saved (the page says so). None: the server keeps no records.",
    )
    attachments: list[AttachmentRef] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # a question without any: not there
        description="The question's attachments, as its entry in the thread keeps them.",
    )


class DecidedTurn(PlannedTurn):
    """The final event's `turn`: the plan, and what the page keeps for its next request."""

    history_start: int = Field(
        ge=0, description="Where the next request's `turn.history` should start in the thread."
    )
    title: str = Field(description="The conversation's title from this question.")


class TurnOpened(_Event):
    """A page turn's first event."""

    turn: PlannedTurn


class FinishedView(_Event):
    """The finished turn as Dash components (components/turn.py finished_turn)."""

    replace: bool = Field(description="True: `children` are the whole thread.")
    children: list[Any] | None = None
    props: dict[str, Any] | None = Field(
        default=None, description="Otherwise the new props of the turn's container."
    )


class _Final(_Event):
    """What the final event of a page turn adds to `done` and `error`."""

    content: str | None = Field(default=None, description="With `snapshots`: the whole reply.")
    turn: DecidedTurn | None = None
    context_tokens: int | None = Field(default=None, description="The next request's context.")
    entries: list[HistoryEntry] | None = Field(
        default=None, description="What was stored; the reply's text is the marker \\u0000reply."
    )
    view: FinishedView | None = None


class DeltaEvent(_Event):
    """A piece of the reply's text."""

    delta: str
    content: str | None = Field(default=None, description="With `snapshots`: the reply so far.")


class DoneEvent(_Final):
    """The reply is complete."""

    done: Literal[True]
    usage: Usage | None
    finish_reason: str | None
    model: str
    context: Context


class ErrorEvent(_Final):
    """The reply failed (any text before the failure came in delta events)."""

    error: ErrorObject


STREAM_EVENTS = (TurnOpened, DeltaEvent, DoneEvent, ErrorEvent)
