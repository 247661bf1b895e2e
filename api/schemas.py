"""What a request to the chat API may contain; anything else is a 400."""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal, NoReturn

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from services.attachments.models import AttachmentRef
from services.input_rules import input_problem

# Far above any real conversation (MAX_HISTORY_ROUNDS caps what goes upstream anyway), low
# enough that one request cannot pin a worker parsing megabytes.
MAX_BODY_BYTES = 1_000_000
MAX_MESSAGES = 400
# Any one message (an earlier reply can be long; the question has MAX_INPUT_CHARS).
MAX_MESSAGE_CHARS = 100_000
# Content parts of one message (text and images; the images are capped by MAX_ATTACHMENTS).
MAX_PARTS = 50
# The image types a data URL may carry (what services/attachments/images.py reads).
IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/gif")


def _encodable(value: str | None) -> str | None:
    # JSON allows "\ud800" (a lone surrogate), UTF-8 does not: refuse it here rather than
    # fail later while sending it upstream.
    try:
        if value is not None:
            value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (a lone surrogate)") from None
    return value


class TextPart(BaseModel):
    """A text part of a message's content (OpenAI's `{"type": "text", "text"}`)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    type: Literal["text"]
    text: str = Field(max_length=MAX_MESSAGE_CHARS)

    _valid_text = field_validator("text")(_encodable)


class ImageURL(BaseModel):
    """An image as a data URL. Never a web address: this server fetches no URL a user chose."""

    model_config = ConfigDict(extra="ignore", strict=True)
    url: str
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _data_url(cls, value: str) -> str:
        head = value[:64].lower()
        if not head.startswith("data:"):
            raise ValueError(
                "images must be data URLs (data:image/png;base64,...); this server fetches no URLs"
            )
        mime, _, rest = head[5:].partition(";")
        if mime not in IMAGE_MIMES or not rest.startswith("base64,"):
            raise ValueError(f"an image must be base64 data of type {', '.join(IMAGE_MIMES)}")
        return value


class ImagePart(BaseModel):
    """An image part (`{"type": "image_url", "image_url": {"url", "detail"?}}`)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(BaseModel):
    """One chat message: text, or OpenAI-style content parts (text and images)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    role: Literal["system", "user", "assistant"]
    # Told apart by shape, so an error names what is wrong with the form that was sent.
    content: Annotated[
        Annotated[Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)], Tag("str")]
        | Annotated[list[ContentPart], Tag("list[parts]")],
        Discriminator(lambda value: "list[parts]" if isinstance(value, list) else "str"),
    ]

    @field_validator("content")
    @classmethod
    def _valid_content(cls, value: str | list) -> str | list:
        if isinstance(value, str):
            return _encodable(value)
        if not value:
            raise ValueError("content parts must not be empty")
        if len(value) > MAX_PARTS:
            raise ValueError(f"at most {MAX_PARTS} content parts")
        return value

    @model_validator(mode="after")
    def _images_from_the_user(self) -> Message:
        if self.role != "user" and self.images:
            raise ValueError("only user messages can have images")
        return self

    @property
    def text(self) -> str:
        """The message's text (a list's text parts, one after the other)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def images(self) -> list[ImagePart]:
        if isinstance(self.content, str):
            return []
        return [part for part in self.content if isinstance(part, ImagePart)]

    def upstream(self) -> dict:
        """The message as it goes upstream (OpenAI's shape, unset `detail` left out)."""
        return self.model_dump(exclude_none=True)


class Entry(BaseModel):
    """One entry of the page's thread (services/conversation.py); only what planning reads."""

    model_config = ConfigDict(extra="ignore", strict=True)
    role: Literal["user", "assistant", "error"]
    content: str = Field(default="", max_length=MAX_MESSAGE_CHARS)
    status: str | None = Field(default=None, max_length=16)
    # A question's attachments, as the final event gave them (services/attachments/models.py):
    # the server checks each is the caller's before it sends any upstream again.
    attachments: list[AttachmentRef] | None = Field(default=None, max_length=20)

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
    # The question's attachments: ids from POST /api/attachments (at most MAX_ATTACHMENTS,
    # checked by parse_chat_request; each must be the caller's, checked when the turn plans).
    attachments: list[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] = Field(
        default_factory=list, max_length=20
    )

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
        return self.turn.question if self.turn is not None else self.messages[-1].text

    @property
    def images(self) -> list[ImagePart]:
        """Every image part of the `messages` form (the page's turn attaches by id)."""
        return [image for message in self.messages or [] for image in message.images]

    @property
    def attached(self) -> int:
        """How many images or attachments the request carries."""
        return len(self.turn.attachments) if self.turn is not None else len(self.images)


class BadRequest(Exception):
    """A request the API refuses, with the reason in plain words (`kind` and `status` for
    the error object: an image over the size limit is a 413 `too_large`)."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "invalid_request",
        status: int = 400,
        params: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        # For the page's own words (i18n `attach.error.<kind>`): the limit that was passed.
        self.params = params or {}


def attachment_bytes(max_attachment_mb: float) -> int:
    """MAX_ATTACHMENT_MB in bytes."""
    return int(max_attachment_mb * 1024 * 1024)


def body_limit(max_attachments: int, max_attachment_mb: float) -> int:
    """The most a request body may hold: MAX_BODY_BYTES, and room for MAX_ATTACHMENTS images
    of MAX_ATTACHMENT_MB as base64 data URLs. Only a body with image parts may use that room
    (`parse_json_body`); it is still read with this cap, never whole."""
    per_image = -(-attachment_bytes(max_attachment_mb) * 4 // 3) + 100  # base64, the URL's head
    return MAX_BODY_BYTES + max(0, max_attachments) * per_image


def _base64_size(url: str) -> int:
    """The decoded size of a base64 data URL's data (without decoding it)."""
    data = url.partition(",")[2].rstrip()
    return len(data) * 3 // 4 - data[-2:].count("=")


def parse_json_body(raw: bytes, content_type: str | None, *, limit: int = MAX_BODY_BYTES) -> object:
    """The JSON value of a request body; raises BadRequest.

    A body over MAX_BODY_BYTES is read only when it has image parts (up to `limit`,
    `body_limit`'s room for images): text alone never needs more.
    """
    # Requiring JSON also makes a cross-site form post fail CORS preflight instead of
    # spending this server's API key.
    if not content_type or content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest("Content-Type must be application/json.")
    too_large = BadRequest(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if len(raw) > MAX_BODY_BYTES:
        if len(raw) > limit:
            raise BadRequest(
                f"The request body is larger than {limit} bytes.", kind="too_large", status=413
            )
        if b"image_url" not in raw:  # a quick look first: text alone is not parsed at all
            raise too_large
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        raise BadRequest("The request body is not valid JSON.") from None
    if len(raw) > MAX_BODY_BYTES and not _has_image(value):
        raise too_large
    return value


def _has_image(value: object) -> bool:
    """Whether a parsed body has an `image_url` content part in its messages."""
    messages = value.get("messages") if isinstance(value, dict) else None
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                return True
    return False


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
    max_attachments: int = 0,
    max_attachment_mb: float = 20,
) -> ChatRequest:
    """Validate a raw request body; raises BadRequest with a readable reason.

    Images (content parts, or the page's attachment ids) are allowed up to `max_attachments`
    (0: none), each at most `max_attachment_mb` decoded (a larger one is a 413).
    """
    data = parse_json_body(raw, content_type, limit=body_limit(max_attachments, max_attachment_mb))
    try:
        request = ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        # A union's member names its branch in the location ("content.str"): left out.
        loc = [part for part in first["loc"] if not _branch(part)]
        # A tagged part repeats its tag ("0.image_url.image_url.url"): once is enough.
        loc = [part for i, part in enumerate(loc) if i == 0 or part != loc[i - 1]]
        where = ".".join(str(part) for part in loc) or "body"
        raise BadRequest(f"Invalid request at '{where}': {first['msg']}.") from None
    _check_attached(request, max_attachments, max_attachment_mb)
    question = request.question
    problem = input_problem(question, max_input_chars)
    if problem == "empty" and not request.attached:  # a picture alone is a question
        raise BadRequest("The message is empty.")
    if problem == "too_long":
        raise BadRequest(f"The message is longer than {max_input_chars} characters.")
    if request.model is not None and request.model not in models:
        raise BadRequest(f"Unknown model '{request.model}'. Available: {', '.join(models)}.")
    if max_reply_tokens and request.max_tokens and request.max_tokens > max_reply_tokens:
        raise BadRequest(f"max_tokens must be at most {max_reply_tokens}.")
    return request


def _branch(part: object) -> bool:
    return isinstance(part, str) and (part == "str" or part.startswith("list["))


def _check_attached(request: ChatRequest, max_attachments: int, max_attachment_mb: float) -> None:
    """The request's images or attachments within the server's limits."""
    count = request.attached
    if count and max_attachments <= 0:
        raise BadRequest("This server takes no attachments or images.", kind="unsupported")
    if count > max_attachments:
        raise BadRequest(
            f"At most {max_attachments} attachments or images per request; this one has {count}.",
            kind="too_many",
            params={"limit": max_attachments},
        )
    largest = attachment_bytes(max_attachment_mb)
    for image in request.images:
        if _base64_size(image.image_url.url) > largest:
            raise BadRequest(
                f"An image is larger than {max_attachment_mb:g} MB.",
                kind="too_large",
                status=413,
                params={"limit_mb": f"{max_attachment_mb:g}"},
            )
