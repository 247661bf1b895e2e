"""What a request to the chat API may contain; anything else is a 400."""

from __future__ import annotations

import json
import math
from typing import Literal, NoReturn

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from services.input_rules import input_problem

# Far above any real conversation (MAX_HISTORY_ROUNDS caps what goes upstream anyway), low
# enough that one request cannot pin a worker parsing megabytes.
MAX_BODY_BYTES = 1_000_000
MAX_MESSAGES = 400
# Any one message (an earlier reply can be long; the question has MAX_INPUT_CHARS).
MAX_MESSAGE_CHARS = 100_000


def _encodable(value: str | None) -> str | None:
    # JSON allows "\ud800" (a lone surrogate), UTF-8 does not: refuse it here rather than
    # fail later while sending it upstream.
    try:
        if value is not None:
            value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (a lone surrogate)") from None
    return value


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="ignore", strict=True)
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)

    _valid_text = field_validator("content")(_encodable)


class Entry(BaseModel):
    """One entry of the page's thread (services/conversation.py); only what planning reads."""

    model_config = ConfigDict(extra="ignore", strict=True)
    role: Literal["user", "assistant", "error"]
    content: str = Field(default="", max_length=MAX_MESSAGE_CHARS)
    status: str | None = Field(default=None, max_length=16)

    _valid_text = field_validator("content")(_encodable)


class PageTurn(BaseModel):
    """The page's form of a request: the server builds the messages and keeps the record.

    The page sends the newest part of its thread that can still be context (`history`, which
    starts at index `history_start` of the thread) and its choices; the server applies the
    persona, the round cap and the model's window (services/plan.py), so the thread goes up
    once per turn and nothing comes back down but the reply.
    """

    model_config = ConfigDict(extra="ignore", strict=True)
    question: str = Field(max_length=MAX_MESSAGE_CHARS)
    history: list[Entry] = Field(default_factory=list, max_length=MAX_MESSAGES)
    history_start: int = Field(default=0, ge=0, le=1_000_000)
    multi_turn: bool = True
    persona: str | None = Field(default=None, max_length=100)
    custom_prompt: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)
    # A retried question is already on record: it is not stored twice.
    retry: bool = False
    # The turn's messages that have versions (a regenerated reply, an edited question), by
    # their index in the thread: [k, n] for `‹ k / n ›`, drawn in the final event's view.
    versions: dict[str, list[int]] | None = Field(default=None, max_length=2)

    _valid_text = field_validator("question", "custom_prompt")(_encodable)

    @field_validator("versions")
    @classmethod
    def _versions(cls, value: dict[str, list[int]] | None) -> dict[str, list[int]] | None:
        return _check_versions(value)

    def version_map(self) -> dict[int, tuple[int, int]]:
        return _version_map(self.versions)


def _check_versions(value: dict[str, list[int]] | None) -> dict[str, list[int]] | None:
    for key, pair in (value or {}).items():
        if not (key.isascii() and key.isdigit()) or len(key) > 7 or len(pair) != 2:
            raise ValueError("versions are {index: [k, n]}")
        if not 1 <= pair[0] <= pair[1] <= 1000:
            raise ValueError("a version is k of n, 1 <= k <= n")
    return value


def _version_map(value: dict[str, list[int]] | None) -> dict[int, tuple[int, int]]:
    return {int(key): (pair[0], pair[1]) for key, pair in (value or {}).items()}


_VERSIONS = TypeAdapter(dict[str, list[int]] | None, config=ConfigDict(strict=True))


def turn_versions(value: object) -> dict[int, tuple[int, int]]:
    """A turn's `versions` as the page reports it (PageTurn's rule), or {} when it is not
    of that shape."""
    try:
        return _version_map(_check_versions(_VERSIONS.validate_python(value)))
    except (ValidationError, ValueError):
        return {}


class ChatRequest(BaseModel):
    """The body of POST /api/chat and /api/chat/stream: `messages`, or the page's `turn`."""

    model_config = ConfigDict(extra="ignore", strict=True)
    messages: list[Message] | None = Field(default=None, min_length=1, max_length=MAX_MESSAGES)
    turn: PageTurn | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    # The server-side record to add the reply to (must be the caller's own).
    conversation_id: str | None = Field(default=None, max_length=64)
    # The UI language, for a locked persona's system prompt.
    lang: str = Field(default="en", max_length=16)
    # Streaming only: every event also carries `content`, the reply so far, and events are
    # coalesced. For clients that may only see the newest event (the Dash page does).
    snapshots: bool = False

    @model_validator(mode="after")
    def _ends_with_question(self) -> ChatRequest:
        if self.messages is None and self.turn is None:
            raise ValueError("'messages' is required (a list of {role, content})")
        if self.messages is not None and self.turn is not None:
            raise ValueError("give 'messages' or the page's 'turn', not both")
        if self.messages is not None and self.messages[-1].role != "user":
            raise ValueError("the last message must have role 'user'")
        return self

    @property
    def question(self) -> str:
        return self.turn.question if self.turn is not None else self.messages[-1].content


class BadRequest(Exception):
    """A request the API refuses, with the reason in plain words."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_json_body(raw: bytes, content_type: str | None) -> object:
    """The JSON value of a request body (at most MAX_BODY_BYTES); raises BadRequest."""
    # Requiring JSON also makes a cross-site form post fail CORS preflight instead of
    # spending this server's API key.
    if not content_type or content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest("Content-Type must be application/json.")
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        raise BadRequest("The request body is not valid JSON.") from None


def _no_constant(name: str) -> NoReturn:
    # Python's json reads NaN and Infinity, JSON has no such numbers, and the openai SDK cannot
    # send them on (the gateway forwarded them and failed with a 500).
    raise BadRequest(f"The request body is not valid JSON: {name} is not a JSON number.")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: JSON syntax, but too large for any float, so Infinity
        raise BadRequest(f"The request body has a number out of range: {text[:40]}.")
    return value


def parse_chat_request(
    raw: bytes,
    content_type: str | None,
    *,
    max_input_chars: int,
    models: list[str],
    max_reply_tokens: int | None = None,
) -> ChatRequest:
    """Validate a raw request body; raises BadRequest with a readable reason."""
    data = parse_json_body(raw, content_type)
    try:
        request = ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(f"Invalid request at '{where}': {first['msg']}.") from None
    question = request.question
    problem = input_problem(question, max_input_chars)
    if problem == "empty":
        raise BadRequest("The message is empty.")
    if problem == "too_long":
        raise BadRequest(f"The message is longer than {max_input_chars} characters.")
    if request.model is not None and request.model not in models:
        raise BadRequest(f"Unknown model '{request.model}'. Available: {', '.join(models)}.")
    if max_reply_tokens and request.max_tokens and request.max_tokens > max_reply_tokens:
        raise BadRequest(f"max_tokens must be at most {max_reply_tokens}.")
    return request
