"""The two tables: a conversation and its messages (a streaming reply's too).

The schema itself is created by the Alembic migrations in `migrations/`; these classes are how
the code reads and writes it, and what `alembic revision --autogenerate` compares against.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

UTC = timezone.utc


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def is_id(value: object) -> bool:
    """Shaped like `new_id()`: 32 lowercase hex digits (the page makes its own, see chat.js)."""
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value) is not None


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no time zones: it stores naive UTC text, which still sorts and compares
    correctly because every value is in the same zone and format.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: records keep timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # An anonymous browser identity; every query filters on it.
    owner: Mapped[str] = mapped_column(String, index=True)
    title: Mapped[str] = mapped_column(String, default="", server_default="")
    model: Mapped[str | None] = mapped_column(String)
    persona: Mapped[str | None] = mapped_column(String)
    # A custom persona's system prompt, as the user wrote it when the conversation started
    # (the persona is fixed with the conversation, and so is its prompt).
    persona_prompt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The seq of the newest message. Bumped with UPDATE ... RETURNING, which locks the row, so
    # concurrent writers to one conversation get consecutive numbers without retries.
    last_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The versions regenerate and edit left beside the messages, which are the active path
    # (services/branches.py); None until the conversation is first forked.
    branches: Mapped[dict | None] = mapped_column(JSON)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_id_seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant | error
    content: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String)
    # done | stopped | cut | length | interrupted, or streaming while the reply is written.
    status: Mapped[str | None] = mapped_column(String(16), index=True)
    error_kind: Mapped[str | None] = mapped_column(String)
    error_detail: Mapped[str | None] = mapped_column(Text)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    # Keys of the browser's entry that have no column (e.g. `context_from`, the assistant's
    # `context`, usage extras such as `estimated`), so history() gives back what was stored.
    extra: Mapped[dict | None] = mapped_column(JSON)
    # Indexed: the console counts messages per day.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # While a reply streams: the process writing it ("host:pid:start", see records/journal.py)
    # and when it last said so. A reply left streaming by a process that is gone, or silent for
    # too long, is marked interrupted; both are cleared when the reply ends.
    writer: Mapped[str | None] = mapped_column(String)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The reader's 👍 / 👎 on a finished reply ("up" | "down"), an optional comment, and when
    # it was last given (the console's feedback table pages on it).
    feedback: Mapped[str | None] = mapped_column(String(8))
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class ArchivedFeedback(Base):
    """A rated reply that regenerate or edit moved out of the thread into a version
    (services/branches.py): kept here too, with its question, so the console's feedback list
    still has it. Rebuilt from the versions at each fork and switch."""

    __tablename__ = "archived_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    question: Mapped[str] = mapped_column(Text, default="")
    reply: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String)
    feedback: Mapped[str] = mapped_column(String(8))
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class User(Base):
    """An account (ACCOUNTS=true). Its `id` is also the owner of its records, so a user's
    conversations are found exactly as a browser identity's are."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64))
    # casefold() of the name: "Amy" and "amy" are one account.
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    # argon2id, with its parameters and salt (services/accounts/passwords.py).
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(8), default="user", server_default="user")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Tokens a day; None uses USER_DAILY_TOKENS.
    daily_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A personal API token: only its SHA-256 is kept; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), default="", server_default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's first characters, so a list can tell tokens apart without revealing them.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsageEvent(Base):
    """What one reply used, whoever asked (page, API or gateway), stopped and cut ones too;
    while it runs under a daily budget, what it may use at most (`reserved`).

    Quotas sum a user's rows for the day; the console's figures are aggregates of this table.
    """

    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_owner_at", "owner", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    owner: Mapped[str] = mapped_column(String)
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(8))  # page | api | gateway | terminal
    model: Mapped[str | None] = mapped_column(String)
    persona: Mapped[str | None] = mapped_column(String)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cost: Mapped[float | None] = mapped_column(Float)
    # The cost's currency (ISO code, from prices.yaml). NULL on rows written before 0008: the
    # console reads those as the model's current price currency (services/admin/usage.py).
    currency: Mapped[str | None] = mapped_column(String(3))
    # A reply still running (migration 0009): the worst case it holds against the owner's daily
    # budget, counted in full until `held_until` (renewed while it runs); NULL once it ended
    # and the row says what it really used. A holder that died stops renewing, and its row
    # then counts its prompt only (services/quota.py).
    reserved: Mapped[int | None] = mapped_column(Integer)
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """An admin action: who did what to whom, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64), default="", server_default="")
    detail: Mapped[str] = mapped_column(Text, default="", server_default="")


class Attachment(Base):
    """A file attached to a question (services/attachments): an image for a vision model or a
    document given as context. Its bytes are files under ATTACHMENT_DIR, named by its id.

    Uploaded before its question is sent, it belongs to no conversation yet (`conversation_id`
    None, "pending"); the turn that sends it links it to its conversation, and deleting the
    conversation deletes it. Every read filters on `owner`, as conversations do.
    """

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(String, index=True)
    conversation_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    # The name as the user's file had it, made safe to show and store (no path, no controls).
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # image | document
    # The type told by the file's bytes, not by its name (image/png, application/pdf, ...).
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)  # bytes, as uploaded
    # An image as the model gets it (after resizing), and what it costs in tokens.
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # A document's text, or an image, in tokens.
    tokens: Mapped[int | None] = mapped_column(Integer)
    # A document's pages (PDF) or sheets (XLSX).
    pages: Mapped[int | None] = mapped_column(Integer)
    # Something the user should know, e.g. "no_text" for a scanned PDF without a text layer.
    note: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AttachmentPassage(Base):
    """A passage of a document: the unit full-text search finds for a question when the whole
    document does not fit the context. `terms` is what is indexed (words, and CJK text as
    overlapping pairs of characters, so Chinese is searchable with the databases' own simple
    tokenizers): SQLite's FTS5 table `attachment_passages_fts`, PostgreSQL's tsvector column
    `search` (both made by migration 0007, not by these classes)."""

    __tablename__ = "attachment_passages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    attachment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("attachments.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    # Where in the document: "page 150", "sheet Sales", "" for a plain text file.
    location: Mapped[str] = mapped_column(String(200), default="", server_default="")
    text: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
