"""The console's figures: totals for today / this week / this month, usage per day split by
user, persona or model, and the share of 👍 among rated replies per day.

Every figure is one aggregate query (GROUP BY day) over an indexed time column:
usage_events.at, messages.created_at, messages.feedback_at. Python only folds the aggregated
rows (days × keys), never the table's rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import case, distinct, func, select, union_all

from services.admin.sql import day, day_range, midnight
from services.records.models import ArchivedFeedback, Conversation, Message, UsageEvent, User

Metric = Literal["messages", "tokens", "cost"]
Split = Literal["user", "persona", "model"]
METRICS: tuple[str, ...] = ("messages", "tokens", "cost")
SPLITS: tuple[str, ...] = ("user", "persona", "model")
# Lines drawn one by one; the rest of the keys are summed into one "other" line.
TOP_KEYS = 8
OTHER = "\x00other"  # never a name, model or persona: the caller shows its own word
NONE = "\x00none"


class Totals(BaseModel):
    """One period's totals."""

    active_users: int = 0
    conversations: int = 0
    tokens: int = 0
    cost: float = 0.0


class Overview(BaseModel):
    today: Totals
    week: Totals
    month: Totals


class Line(BaseModel):
    """One line of the chart: a user, persona or model (or OTHER / NONE), its value per day.
    `label` is the user's name; None for an owner that is no account (a browser)."""

    key: str
    label: str | None
    days: list[str]
    values: list[float]


class FeedbackDay(BaseModel):
    day: str
    up: int
    rated: int

    @property
    def rate(self) -> float:
        return self.up / self.rated if self.rated else 0.0


def period_starts(now: datetime) -> dict[str, datetime]:
    """Midnight UTC of today, of this week's Monday and of the month's first day."""
    today = now.astimezone(UTC).date()
    return {
        "today": midnight(today),
        "week": midnight(today - timedelta(days=today.weekday())),
        "month": midnight(today.replace(day=1)),
    }


def overview(engine, now: datetime | None = None) -> Overview:
    """Active users, conversations with a message, tokens and cost, for the three periods."""
    starts = period_starts(now or datetime.now(UTC))
    since = min(starts.values())
    tokens = UsageEvent.prompt_tokens + UsageEvent.completion_tokens
    usage_columns, message_columns = [], []
    for name, start in starts.items():
        recent = UsageEvent.at >= start
        usage_columns += [
            func.count(distinct(case((recent, UsageEvent.owner)))).label(f"{name}_users"),
            func.coalesce(func.sum(case((recent, tokens), else_=0)), 0).label(f"{name}_tokens"),
            func.coalesce(func.sum(case((recent, UsageEvent.cost), else_=0)), 0).label(
                f"{name}_cost"
            ),
        ]
        message_columns.append(
            func.count(
                distinct(case((Message.created_at >= start, Message.conversation_id)))
            ).label(f"{name}_conversations")
        )
    with engine.connect() as connection:
        usage = connection.execute(select(*usage_columns).where(UsageEvent.at >= since)).one()
        talk = connection.execute(select(*message_columns).where(Message.created_at >= since)).one()
    return Overview(
        **{
            name: Totals(
                active_users=getattr(usage, f"{name}_users"),
                conversations=getattr(talk, f"{name}_conversations"),
                tokens=int(getattr(usage, f"{name}_tokens") or 0),
                cost=float(getattr(usage, f"{name}_cost") or 0),
            )
            for name in starts
        }
    )


def _daily_rows(connection, metric: str, split: str, since: datetime, until: datetime):
    dialect = connection.dialect.name
    if metric == "messages":
        # Questions and replies, by the conversation's owner, persona and model.
        key = {
            "user": Conversation.owner,
            "persona": Conversation.persona,
            "model": Conversation.model,
        }[split]
        when = day(Message.created_at, dialect)
        statement = (
            select(when.label("day"), key.label("key"), func.count().label("value"))
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Message.created_at >= since,
                Message.created_at < until,
                Message.role.in_(("user", "assistant")),
            )
        )
    else:
        key = {"user": UsageEvent.owner, "persona": UsageEvent.persona, "model": UsageEvent.model}[
            split
        ]
        amount = (
            UsageEvent.prompt_tokens + UsageEvent.completion_tokens
            if metric == "tokens"
            else func.coalesce(UsageEvent.cost, 0)
        )
        when = day(UsageEvent.at, dialect)
        statement = select(
            when.label("day"), key.label("key"), func.sum(amount).label("value")
        ).where(UsageEvent.at >= since, UsageEvent.at < until)
    return connection.execute(statement.group_by(when, key)).all()


def days_between(start: date, end: date) -> list[str]:
    if end < start:
        start, end = end, start
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def daily(engine, metric: str, split: str, start: date, end: date) -> list[Line]:
    """`metric` per day from `start` to `end` (UTC days, both included), one line per key of
    `split`; the TOP_KEYS biggest keys have their own line, the rest are summed in OTHER."""
    if metric not in METRICS or split not in SPLITS:
        raise ValueError("unknown metric or split")
    since, until = day_range(start, end)
    days = days_between(start, end)
    with engine.connect() as connection:
        rows = _daily_rows(connection, metric, split, since, until)
        totals: dict[str, float] = {}
        for row in rows:
            key = row.key if row.key is not None else NONE
            totals[key] = totals.get(key, 0) + float(row.value or 0)
        top = sorted(totals, key=lambda k: (-totals[k], k))[:TOP_KEYS]
        names = _usernames(connection, top) if split == "user" else {}
    index = {d: n for n, d in enumerate(days)}
    lines = {key: [0.0] * len(days) for key in top}
    for row in rows:
        key = row.key if row.key is not None else NONE
        if key not in lines:
            key = OTHER
            lines.setdefault(OTHER, [0.0] * len(days))
        if row.day in index:
            lines[key][index[row.day]] += float(row.value or 0)
    return [
        Line(
            key=key,
            label=names.get(key) if split == "user" and key not in (OTHER, NONE) else key,
            days=days,
            values=values,
        )
        for key, values in lines.items()
    ]


def _usernames(connection, owners: list[str]) -> dict[str, str]:
    """Names of the owners that are users (an owner may be a browser from before accounts)."""
    if not owners:
        return {}
    rows = connection.execute(select(User.id, User.username).where(User.id.in_(owners))).all()
    return {row.id: row.username for row in rows}


def feedback_days(engine, start: date, end: date) -> list[FeedbackDay]:
    """Per day (of the feedback): how many replies were rated, and how many 👍 (those in a
    version that regenerate or edit left behind too)."""
    since, until = day_range(start, end)
    ratings = union_all(
        *(
            select(source.feedback_at.label("at"), source.feedback.label("rating")).where(
                source.feedback_at >= since,
                source.feedback_at < until,
                source.feedback.is_not(None),
            )
            for source in (Message, ArchivedFeedback)
        )
    ).subquery()
    with engine.connect() as connection:
        when = day(ratings.c.at, connection.dialect.name)
        rows = connection.execute(
            select(
                when.label("day"),
                func.sum(case((ratings.c.rating == "up", 1), else_=0)).label("up"),
                func.count().label("rated"),
            )
            .group_by(when)
            .order_by(when)
        ).all()
    return [FeedbackDay(day=row.day, up=int(row.up or 0), rated=int(row.rated)) for row in rows]
