"""Tokens per user per day: what every reply used (`usage_events`), and what is left of a budget.

One row per reply, whoever asked (the page, `/api/chat*`, the gateway), written when the reply
ends, however it ends: finished, stopped, cut or interrupted (then with a local count of what it
used). A user's day is counted from midnight in QUOTA_TIMEZONE (UTC by default) by summing those
rows in the database, so every worker and instance sharing it sees the same count: no process
keeps a counter of its own.

Nothing is reserved ahead: a request is let through while the day's count is under the budget,
so requests that start together (or one long reply) can go over it by at most their own size.
A database that cannot be read or written costs the count, never the chat: the failure is
logged once until it works again, and the request goes on.
"""

from __future__ import annotations

import logging
import math
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from services.pricing import PriceTable, cost
from services.records.guarded import reason
from services.records.models import UsageEvent, utcnow
from services.tokens import count_messages, count_text

log = logging.getLogger(__name__)

SOURCES = ("page", "api", "gateway")
# The page's kind for a refusal (components/message.py): not "quota_exceeded", which is the
# upstream account's own quota (services/errors.py).
REFUSAL_KIND = "daily_quota"


def zone(name: str | None) -> timezone | ZoneInfo:
    """QUOTA_TIMEZONE as a time zone; raises ValueError for an unknown name."""
    if not name or name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"QUOTA_TIMEZONE={name} is not a known time zone (e.g. UTC, Asia/Shanghai)"
        ) from None


class Spent(BaseModel):
    """What one reply used: one row of `usage_events`."""

    model_config = ConfigDict(frozen=True)

    owner: str
    source: str = Field(pattern="^(page|api|gateway|terminal)$")  # terminal: services/terminal
    conversation_id: str | None = None
    model: str | None = None
    persona: str | None = None
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cost: float | None = None
    # The cost's currency (prices.yaml); None with no cost.
    currency: str | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class QuotaState(BaseModel):
    """A user's day: tokens used, the budget, and when the count starts again (UTC)."""

    model_config = ConfigDict(frozen=True)

    used: int
    budget: int
    resets_at: datetime

    @property
    def left(self) -> int:
        return max(0, self.budget - self.used)

    @property
    def spent(self) -> bool:
        """Nothing is left: the next request is refused."""
        return self.used >= self.budget

    def seconds_to_reset(self, now: datetime | None = None) -> int:
        """Whole seconds until the reset, at least 1 (a Retry-After)."""
        remaining = (self.resets_at - (now or utcnow())).total_seconds()
        return max(1, math.ceil(remaining))


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def reply_usage(
    entries: list[dict], *, sent: list[dict], model: str
) -> tuple[int, int, bool] | None:
    """(prompt, completion, estimated) of a reply from how it ended (`record_result`'s
    entries); None when it used nothing (it failed before its first token).

    A finished reply carries the upstream's count (or the service's local one). A stopped,
    cut or interrupted one carries none: its prompt (`sent`) and the text it got so far are
    counted here, offline, as the service counts an upstream that reports nothing.
    """
    reply = next((entry for entry in entries if entry.get("role") == "assistant"), None)
    if reply is None:
        return None
    usage = reply.get("usage")
    if isinstance(usage, dict) and (usage.get("prompt_tokens") or usage.get("completion_tokens")):
        counted = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
        return (*counted, bool(usage.get("estimated")))
    return estimate(sent, reply.get("content") or "", model)


def estimate(sent: list[dict], reply: str, model: str) -> tuple[int, int, bool]:
    """A local count of a request and its reply (never raises: unknown shapes count 0)."""
    try:
        prompt = count_messages(sent, model)
    except Exception:
        log.exception("could not count a request's tokens")
        prompt = 0
    try:
        completion = count_text(reply, model) if reply else 0
    except Exception:
        log.exception("could not count a reply's tokens")
        completion = 0
    return prompt, completion, True


def priced(prices: PriceTable, model: str | None, prompt: int, completion: int) -> float | None:
    """The cost at `model`'s list price (in its currency), None when it has no price."""
    return charge(prices, model, prompt, completion)["cost"]


def charge(prices: PriceTable, model: str | None, prompt: int, completion: int) -> dict:
    """A usage row's {"cost", "currency"} at `model`'s list price; both None when unpriced
    (a cost is only ever written with its currency: the console never adds two)."""
    price = prices.price(model)
    if price is None:
        return {"cost": None, "currency": None}
    amount = cost(prompt, completion, price).quantize(Decimal("0.00000001"))
    return {"cost": float(amount), "currency": price.currency}


class Quota:
    """Usage rows and daily budgets on the records' engine (shared by every worker)."""

    def __init__(self, engine, default: int | None, tz: str | None = "UTC", *, writer=None):
        self.engine = engine
        # The records' write transactions (BEGIN IMMEDIATE on SQLite), when given.
        self._writer = writer or engine
        self.default = default
        self.zone = zone(tz)
        self.zone_name = "UTC" if self.zone is timezone.utc else str(tz)
        self._failing = False
        self._lock = threading.Lock()

    @classmethod
    def for_records(cls, records, default: int | None, tz: str | None = "UTC") -> Quota:
        """On a services.records Records (or the GuardedRecords around it)."""
        raw = getattr(records, "records", records)
        return cls(raw.engine, default, tz, writer=getattr(raw, "_writer", None))

    # ---- the day

    def day_start(self, now: datetime | None = None) -> datetime:
        """Midnight of the current day in the quota's zone, as a UTC time."""
        local = (now or utcnow()).astimezone(self.zone)
        midnight = datetime(local.year, local.month, local.day, tzinfo=self.zone)
        return midnight.astimezone(timezone.utc)

    def next_reset(self, now: datetime | None = None) -> datetime:
        """The next midnight in the quota's zone, as a UTC time (a DST day is 23 or 25 h)."""
        local = (now or utcnow()).astimezone(self.zone)
        tomorrow = local.date() + timedelta(days=1)
        midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=self.zone)
        return midnight.astimezone(timezone.utc)

    # ---- budgets

    def budget(self, user) -> int | None:
        """The user's daily tokens (their own, else USER_DAILY_TOKENS); None is unlimited."""
        own = getattr(user, "daily_tokens", None)
        return own if own is not None else self.default

    def used_today(self, owner: str, *, now: datetime | None = None) -> int:
        """Tokens (prompt + reply) `owner`'s replies used since midnight; 0 when unreadable."""
        since = self.day_start(now)
        query = select(
            func.coalesce(func.sum(UsageEvent.prompt_tokens + UsageEvent.completion_tokens), 0)
        ).where(UsageEvent.owner == owner, UsageEvent.at >= since)
        try:
            with self.engine.connect() as connection:
                used = int(connection.scalar(query) or 0)
        except (SQLAlchemyError, OSError) as error:
            self._failed("read", error)
            return 0
        self._worked()
        return used

    def left(self, user, *, now: datetime | None = None) -> QuotaState | None:
        """The user's day (used, budget, reset), or None when their budget is unlimited."""
        budget = self.budget(user)
        if budget is None or user is None:
            return None
        now = now or utcnow()
        return QuotaState(
            used=self.used_today(user.id, now=now), budget=budget, resets_at=self.next_reset(now)
        )

    # ---- rows

    def record(self, spent: Spent, *, at: datetime | None = None) -> bool:
        """Write one usage row; False (logged once per outage) when the database fails."""
        values = spent.model_dump()
        try:
            with self._writer.begin() as connection:
                connection.execute(insert(UsageEvent).values(at=at or utcnow(), **values))
        except (SQLAlchemyError, OSError) as error:
            self._failed("written", error)
            return False
        self._worked()
        return True

    def _failed(self, what: str, error: BaseException) -> None:
        with self._lock:
            was_failing, self._failing = self._failing, True
        if not was_failing:
            log.error(
                "token usage cannot be %s (%s): chats go on, but their usage is not counted "
                "towards daily quotas; logged once until it works again",
                what,
                reason(error),
            )

    def _worked(self) -> None:
        with self._lock:
            was_failing, self._failing = self._failing, False
        if was_failing:
            log.warning("token usage is counted again")
