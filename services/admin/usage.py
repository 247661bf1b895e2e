"""The console's figures: totals for today / this week / this month, usage per day split by
user, persona or model, and the share of 👍 among rated replies per day.

Every figure is one aggregate query (GROUP BY day) over an indexed time column:
usage_events.at, messages.created_at, messages.feedback_at. Python only folds the aggregated
rows (days × keys), never the table's rows.

Costs are per currency (prices.yaml prices each model in its own): a total is
{currency: amount}, and the chart's cost is drawn in one currency at a time. A row from before
migration 0008 has no currency: it is read as its model's current price currency, else the
price table's default (`currency_of`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import case, distinct, func, select, union_all

from services.admin.sql import SETTLED, day, day_range, midnight
from services.pricing import DEFAULT_CURRENCY, PriceTable
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
    # {currency: amount}, the biggest first; only the currencies spent in the period.
    cost: dict[str, float] = Field(default_factory=dict)


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


def currency_of(currency: str | None, model: str | None, prices: PriceTable | None) -> str:
    """A usage row's currency: its own; for a row from before 0008 (None), the currency its
    model is priced in now, else the price table's default."""
    if currency:
        return currency
    if prices is None:
        return DEFAULT_CURRENCY
    price = prices.price(model)
    return price.currency if price is not None else prices.currency


# Grouped by with the currency: the model of a row without one (before 0008), so that
# `currency_of` can name its currency; NULL for every other row, which keeps their groups few.
_LEGACY_MODEL = case((UsageEvent.currency.is_(None), UsageEvent.model))


def _biggest_first(amounts: dict[str, float]) -> dict[str, float]:
    return dict(sorted(amounts.items(), key=lambda item: (-item[1], item[0])))


def overview(engine, now: datetime | None = None, prices: PriceTable | None = None) -> Overview:
    """Active users, conversations with a message, tokens and cost per currency, for the
    three periods."""
    starts = period_starts(now or datetime.now(UTC))
    since = min(starts.values())
    tokens = UsageEvent.prompt_tokens + UsageEvent.completion_tokens
    usage_columns, message_columns, cost_columns = [], [], []
    for name, start in starts.items():
        recent = UsageEvent.at >= start
        usage_columns += [
            func.count(distinct(case((recent, UsageEvent.owner)))).label(f"{name}_users"),
            func.coalesce(func.sum(case((recent, tokens), else_=0)), 0).label(f"{name}_tokens"),
        ]
        cost_columns += [
            func.coalesce(func.sum(case((recent, UsageEvent.cost), else_=0)), 0).label(
                f"{name}_cost"
            ),
            func.count(case((recent, 1))).label(f"{name}_priced"),
        ]
        message_columns.append(
            func.count(
                distinct(case((Message.created_at >= start, Message.conversation_id)))
            ).label(f"{name}_conversations")
        )
    costs = (
        select(UsageEvent.currency, _LEGACY_MODEL.label("model"), *cost_columns)
        .where(UsageEvent.at >= since, UsageEvent.cost.is_not(None))
        .group_by(UsageEvent.currency, _LEGACY_MODEL)
    )
    with engine.connect() as connection:
        usage = connection.execute(
            select(*usage_columns).where(UsageEvent.at >= since, SETTLED)
        ).one()
        spent = connection.execute(costs).all()
        talk = connection.execute(select(*message_columns).where(Message.created_at >= since)).one()
    per_period: dict[str, dict[str, float]] = {name: {} for name in starts}
    for row in spent:
        currency = currency_of(row.currency, row.model, prices)
        for name, amounts in per_period.items():
            if getattr(row, f"{name}_priced"):
                amounts[currency] = amounts.get(currency, 0.0) + float(getattr(row, f"{name}_cost"))
    return Overview(
        **{
            name: Totals(
                active_users=getattr(usage, f"{name}_users"),
                conversations=getattr(talk, f"{name}_conversations"),
                tokens=int(getattr(usage, f"{name}_tokens") or 0),
                cost=_biggest_first(per_period[name]),
            )
            for name in starts
        }
    )


def spend_by_currency(
    engine, start: date, end: date, prices: PriceTable | None = None
) -> dict[str, float]:
    """What was spent from `start` to `end` (UTC days), per currency, the biggest first."""
    since, until = day_range(start, end)
    statement = (
        select(UsageEvent.currency, _LEGACY_MODEL.label("model"), func.sum(UsageEvent.cost))
        .where(UsageEvent.at >= since, UsageEvent.at < until, UsageEvent.cost.is_not(None))
        .group_by(UsageEvent.currency, _LEGACY_MODEL)
    )
    amounts: dict[str, float] = {}
    with engine.connect() as connection:
        for currency, model, amount in connection.execute(statement):
            currency = currency_of(currency, model, prices)
            amounts[currency] = amounts.get(currency, 0.0) + float(amount or 0)
    return _biggest_first(amounts)


def _daily_rows(
    connection,
    metric: str,
    split: str,
    since: datetime,
    until: datetime,
    currency: str | None,
    prices: PriceTable | None,
) -> list[tuple[str, str | None, float]]:
    """(day, key, value) rows; for the cost, only those in `currency` (else the one spent
    most), never two currencies added together."""
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
        when = day(UsageEvent.at, dialect)
        window = (UsageEvent.at >= since, UsageEvent.at < until, SETTLED)
        if metric == "cost":
            statement = select(
                when.label("day"),
                key.label("key"),
                func.sum(UsageEvent.cost).label("value"),
                UsageEvent.currency,
                _LEGACY_MODEL.label("model"),
            ).where(*window, UsageEvent.cost.is_not(None))
            rows = connection.execute(
                statement.group_by(when, key, UsageEvent.currency, _LEGACY_MODEL)
            ).all()
            named = [(row, currency_of(row.currency, row.model, prices)) for row in rows]
            spent: dict[str, float] = {}
            for row, code in named:
                spent[code] = spent.get(code, 0.0) + float(row.value or 0)
            if currency is None and spent:
                currency = next(iter(_biggest_first(spent)))
            return [(row.day, row.key, row.value) for row, code in named if code == currency]
        tokens = UsageEvent.prompt_tokens + UsageEvent.completion_tokens
        statement = select(
            when.label("day"), key.label("key"), func.sum(tokens).label("value")
        ).where(*window)
    return [tuple(row) for row in connection.execute(statement.group_by(when, key))]


def days_between(start: date, end: date) -> list[str]:
    if end < start:
        start, end = end, start
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def daily(
    engine,
    metric: str,
    split: str,
    start: date,
    end: date,
    *,
    currency: str | None = None,
    prices: PriceTable | None = None,
) -> list[Line]:
    """`metric` per day from `start` to `end` (UTC days, both included), one line per key of
    `split`; the TOP_KEYS biggest keys have their own line, the rest are summed in OTHER.
    The cost is that in `currency` only (None: the currency spent most in the range)."""
    if metric not in METRICS or split not in SPLITS:
        raise ValueError("unknown metric or split")
    since, until = day_range(start, end)
    days = days_between(start, end)
    with engine.connect() as connection:
        rows = _daily_rows(connection, metric, split, since, until, currency, prices)
        totals: dict[str, float] = {}
        for _day, key, value in rows:
            key = key if key is not None else NONE
            totals[key] = totals.get(key, 0) + float(value or 0)
        top = sorted(totals, key=lambda k: (-totals[k], k))[:TOP_KEYS]
        names = _usernames(connection, top) if split == "user" else {}
    index = {d: n for n, d in enumerate(days)}
    lines = {key: [0.0] * len(days) for key in top}
    for when, key, value in rows:
        key = key if key is not None else NONE
        if key not in lines:
            key = OTHER
            lines.setdefault(OTHER, [0.0] * len(days))
        if when in index:
            lines[key][index[when]] += float(value or 0)
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
