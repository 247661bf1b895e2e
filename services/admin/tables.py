"""The console's tables: each is one SELECT (filters bound as parameters, never formatted into
the SQL), paged in the database with LIMIT/OFFSET and counted with COUNT(*). The CSV of a table
(services/admin/csv_export.py) runs the same SELECT without the page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import and_, exists, func, or_, select, union_all
from sqlalchemy.orm import aliased

from services.admin.sql import SETTLED, day_range, midnight, page_window
from services.records.models import (
    ArchivedFeedback,
    AuditEntry,
    Conversation,
    Message,
    UsageEvent,
    User,
)

# What a table cell shows of a long text (the reply, the question); the CSV has all of it.
CELL_CHARS = 300
SEARCH_CHARS = 200


class UserRow(BaseModel):
    key: str  # the user id (the table's row key)
    username: str
    role: str
    disabled: bool
    daily_tokens: int | None
    tokens_today: int
    last_active_at: datetime | None
    created_at: datetime


class ConversationRow(BaseModel):
    key: str  # the conversation id
    owner: str
    username: str | None  # None: the owner is a browser, not an account
    title: str
    persona: str | None
    model: str | None
    messages: int
    created_at: datetime
    updated_at: datetime


class FeedbackRow(BaseModel):
    key: int  # the reply's message id
    at: datetime | None
    rating: str
    comment: str | None
    username: str | None
    title: str
    conversation_id: str
    question: str | None
    reply: str


class AuditRow(BaseModel):
    key: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str


class Page(BaseModel):
    rows: list[Any]  # UserRow, ConversationRow, ... (ROW_MODELS)
    total: int
    page: int
    size: int


class ConversationFilter(BaseModel):
    """The conversations table's filters, as the console (or a CSV link) sends them."""

    text: str = Field("", max_length=SEARCH_CHARS)
    owner: str | None = None
    persona: str | None = None
    model: str | None = None
    start: date | None = None
    end: date | None = None

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: object) -> str:
        return value.strip()[:SEARCH_CHARS] if isinstance(value, str) else ""


def _today(now: datetime | None) -> datetime:
    return midnight((now or datetime.now(UTC)).astimezone(UTC).date())


def users_query(text: str = "", now: datetime | None = None, day_start: datetime | None = None):
    """Users by name, with the tokens each used today (usage_events' (owner, at) index).

    `day_start`: when the quota's day began (services/quota.py, QUOTA_TIMEZONE); UTC midnight
    of `now` by default."""
    used = (
        select(func.coalesce(func.sum(UsageEvent.prompt_tokens + UsageEvent.completion_tokens), 0))
        .where(UsageEvent.owner == User.id, UsageEvent.at >= (day_start or _today(now)), SETTLED)
        .scalar_subquery()
    )
    statement = select(
        User.id.label("key"),
        User.username,
        User.role,
        User.disabled,
        User.daily_tokens,
        used.label("tokens_today"),
        User.last_active_at,
        User.created_at,
    )
    text = (text or "").strip()[:SEARCH_CHARS]
    if text:
        # autoescape: a typed "%" or "_" is a character, not a wildcard.
        statement = statement.where(User.username.icontains(text, autoescape=True))
    return statement.order_by(User.username_key)


def conversations_query(filters: ConversationFilter):
    """Everyone's conversations that have messages, most recently updated first."""
    owner_user = aliased(User)
    count = (
        select(func.count())
        .where(Message.conversation_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )
    statement = (
        select(
            Conversation.id.label("key"),
            Conversation.owner,
            owner_user.username,
            Conversation.title,
            Conversation.persona,
            Conversation.model,
            count.label("messages"),
            Conversation.created_at,
            Conversation.updated_at,
        )
        .outerjoin(owner_user, owner_user.id == Conversation.owner)
        .where(exists().where(Message.conversation_id == Conversation.id))
    )
    if filters.text:
        in_messages = exists().where(
            Message.conversation_id == Conversation.id,
            Message.content.icontains(filters.text, autoescape=True),
        )
        statement = statement.where(
            or_(Conversation.title.icontains(filters.text, autoescape=True), in_messages)
        )
    if filters.owner:
        statement = statement.where(Conversation.owner == filters.owner)
    if filters.persona:
        statement = statement.where(Conversation.persona == filters.persona)
    if filters.model:
        statement = statement.where(Conversation.model == filters.model)
    if filters.start or filters.end:
        since, until = day_range(filters.start or filters.end, filters.end or filters.start)
        statement = statement.where(
            and_(Conversation.updated_at >= since, Conversation.updated_at < until)
        )
    return statement.order_by(Conversation.updated_at.desc(), Conversation.id)


def feedback_query(rating: str | None = None, *, cell_chars: int | None = CELL_CHARS):
    """Rated replies, newest rating first, each with the question it answered (the user
    message just before it) and the conversation's owner: those in the thread, and those
    regenerate or edit moved into a version (archived_feedback, keyed by negative ids)."""
    asked = aliased(Message)
    question = (
        select(asked.content)
        .where(
            asked.conversation_id == Message.conversation_id,
            asked.seq < Message.seq,
            asked.role == "user",
        )
        .order_by(asked.seq.desc())
        .limit(1)
        .correlate(Message)
        .scalar_subquery()
    )

    def cut(text):
        return func.substr(text, 1, cell_chars) if cell_chars else text

    def rated(source, key, table_question, table_reply, *where):
        owner_user = aliased(User)
        statement = (
            select(
                key.label("key"),
                source.feedback_at.label("at"),
                source.feedback.label("rating"),
                source.feedback_comment.label("comment"),
                owner_user.username,
                Conversation.title,
                Conversation.id.label("conversation_id"),
                cut(table_question).label("question"),
                cut(table_reply).label("reply"),
            )
            .join(Conversation, Conversation.id == source.conversation_id)
            .outerjoin(owner_user, owner_user.id == Conversation.owner)
            .where(source.feedback_at.is_not(None), source.feedback.is_not(None), *where)
        )
        if rating in ("up", "down"):
            statement = statement.where(source.feedback == rating)
        return statement

    # feedback_at is indexed in both tables: the rated replies are found through it.
    shown = rated(Message, Message.id, question, Message.content)
    archived = rated(
        ArchivedFeedback, -ArchivedFeedback.id, ArchivedFeedback.question, ArchivedFeedback.reply
    )
    both = union_all(shown, archived).subquery()
    return select(both).order_by(both.c.at.desc(), both.c.key.desc())


def audit_query():
    """Admin actions, newest first."""
    return select(
        AuditEntry.id.label("key"),
        AuditEntry.at,
        AuditEntry.actor,
        AuditEntry.action,
        AuditEntry.target,
        AuditEntry.detail,
    ).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


TableName = Literal["users", "conversations", "feedback", "audit"]
ROW_MODELS: dict[str, type[BaseModel]] = {
    "users": UserRow,
    "conversations": ConversationRow,
    "feedback": FeedbackRow,
    "audit": AuditRow,
}


def fetch_page(engine, statement, row_model: type[BaseModel], page: object, size: object) -> Page:
    """One page of `statement` (LIMIT/OFFSET) and the count of all its rows (COUNT(*))."""
    page, size, offset = page_window(page, size)
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    with engine.connect() as connection:
        total = connection.scalar(counted) or 0
        if offset and offset >= total:
            # Past the end (rows went away, or a filter shrank them): the last page instead.
            page = max(1, -(-total // size))
            offset = (page - 1) * size
        rows = connection.execute(statement.limit(size).offset(offset)).all()
    return Page(
        rows=[row_model.model_validate(row._asdict()) for row in rows],
        total=total,
        page=page,
        size=size,
    )


def options(engine) -> dict[str, list[str]]:
    """The personas and models conversations have, for the filters (DISTINCT, sorted)."""
    with engine.connect() as connection:
        found = {
            name: [
                value
                for value in connection.scalars(
                    select(column).where(column.is_not(None)).distinct().order_by(column)
                )
                if value
            ]
            for name, column in (("persona", Conversation.persona), ("model", Conversation.model))
        }
    return found


def user_options(engine, limit: int = 2000) -> list[dict]:
    """Users for the conversations filter: value is the id (the conversations' owner)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(User.id, User.username).order_by(User.username_key).limit(limit)
        ).all()
    return [{"label": row.username, "value": row.id} for row in rows]


class ConversationView(BaseModel):
    """A conversation read-only, for the console's drawer and its Markdown export."""

    id: str
    owner: str
    username: str | None
    title: str
    model: str | None
    persona: str | None
    messages: list[dict]  # {"role", "content", "created_at"}


def conversation(engine, conversation_id: str) -> ConversationView | None:
    """Any user's conversation (admins read everyone's), or None."""
    if not isinstance(conversation_id, str) or len(conversation_id) > 64:
        return None
    owner_user = aliased(User)
    with engine.connect() as connection:
        head = connection.execute(
            select(
                Conversation.id,
                Conversation.owner,
                owner_user.username,
                Conversation.title,
                Conversation.model,
                Conversation.persona,
            )
            .outerjoin(owner_user, owner_user.id == Conversation.owner)
            .where(Conversation.id == conversation_id)
        ).first()
        if head is None:
            return None
        rows = connection.execute(
            select(Message.role, Message.content, Message.created_at)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.seq)
        ).all()
    return ConversationView(**head._asdict(), messages=[row._asdict() for row in rows])
