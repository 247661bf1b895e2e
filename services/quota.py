"""Tokens per user per day: what every reply used (`usage_events`), and what is left of a budget.

One row per reply, whoever asked (the page, `/api/chat*`, the gateway), written when the reply
ends, however it ends: finished, stopped, cut or interrupted (then with a local count of what it
used). A user's day is counted from midnight in QUOTA_TIMEZONE (UTC by default) by summing those
rows in the database, so every worker and instance sharing it sees the same count: no process
keeps a counter of its own.

Under a budget, a reply reserves its worst case when it starts (`Quota.reserve`): its row is
written then, holding the prompt's local count plus the most the reply may use, and the row
becomes the real usage when the reply ends (`Quota.settle`). The check and the insert are one
write transaction, serialized per owner (SQLite's BEGIN IMMEDIATE, a PostgreSQL advisory lock),
so replies that start together cannot each see the same tokens left. A reply that does not fit
whole gets what is left as its max_tokens (it ends as cut at its length); once nothing is left,
the next request is refused. A reservation counts in full until `held_until`,
which this process renews while the reply runs; one whose process died stops being renewed and
then counts its prompt only (which was sent), and the owner's next reservation settles it so.

A database that cannot be read or written costs the count, never the chat: the failure is
logged once until it works again, and the request goes on.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, delete, func, insert, select, update
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
# A reservation counts in full this long after its last renewal; the serving process renews its
# own every quarter of it, so only a dead (or frozen) one lets it lapse.
HOLD_SECONDS = 120.0


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


class Reservation(BaseModel):
    """A running reply's hold on its owner's day: its row, and the max_tokens it must be sent
    with (None: the request's own, which fits whole)."""

    model_config = ConfigDict(frozen=True)

    id: int
    tokens: int
    max_tokens: int | None = None


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
        # Reservation id -> a weak reference to what settles it (this process's running replies).
        self._held: dict[int, weakref.ref] = {}
        self._renewer: threading.Thread | None = None
        self._renewer_pid = os.getpid()

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

    def _used_query(self, owner: str, now: datetime):
        """The day's count: settled rows as used, running replies' reservations in full while
        held, a lapsed one (its process died) as its prompt."""
        held = and_(UsageEvent.reserved.is_not(None), UsageEvent.held_until > now)
        counted = case(
            (held, UsageEvent.reserved),
            else_=UsageEvent.prompt_tokens + UsageEvent.completion_tokens,
        )
        return select(func.coalesce(func.sum(counted), 0)).where(
            UsageEvent.owner == owner, UsageEvent.at >= self.day_start(now)
        )

    def used_today(self, owner: str, *, now: datetime | None = None) -> int:
        """Tokens (prompt + reply) `owner`'s replies used since midnight, with what the running
        ones hold; 0 when unreadable."""
        query = self._used_query(owner, now or utcnow())
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

    # ---- reservations

    def reserve(
        self, spent: Spent, budget: int, *, reply_tokens: int, now: datetime | None = None
    ) -> Reservation | QuotaState | None:
        """Hold `spent`'s prompt (its `prompt_tokens`, a local count) plus up to `reply_tokens`
        for a reply about to start, at most what is left of `budget`: its Reservation (with a
        smaller max_tokens when the reply does not fit whole), the day's QuotaState when
        nothing is left (refuse), None when the database fails (the reply goes on, counted
        when it ends)."""
        now = now or utcnow()
        try:
            with self._writer.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # One owner's reservations one at a time, on every worker and instance (the
                    # lock ends with the transaction); SQLite's BEGIN IMMEDIATE is one already.
                    connection.execute(
                        select(func.pg_advisory_xact_lock(func.hashtext(spent.owner)))
                    )
                # Reservations whose process died count their prompt (see `_used_query`): say so
                # in the rows too, so the console counts them (it skips running ones).
                connection.execute(
                    update(UsageEvent)
                    .where(
                        UsageEvent.owner == spent.owner,
                        UsageEvent.reserved.is_not(None),
                        UsageEvent.held_until <= now,
                    )
                    .values(reserved=None, held_until=None)
                )
                used = int(connection.scalar(self._used_query(spent.owner, now)) or 0)
                left = budget - used
                if left <= 0:
                    return QuotaState(used=used, budget=budget, resets_at=self.next_reset(now))
                # What the prompt leaves, at least one token (a prompt bigger than what is left
                # goes over by its excess, once: it holds the rest of the day).
                reply = min(reply_tokens, max(1, left - spent.prompt_tokens))
                tokens = min(spent.prompt_tokens + reply, left)
                row = connection.execute(
                    insert(UsageEvent).values(
                        at=now,
                        reserved=tokens,
                        held_until=now + timedelta(seconds=HOLD_SECONDS),
                        **spent.model_dump(),
                    )
                ).inserted_primary_key[0]
        except (SQLAlchemyError, OSError) as error:
            self._failed("reserved", error)
            return None
        self._worked()
        return Reservation(
            id=row, tokens=tokens, max_tokens=reply if reply < reply_tokens else None
        )

    def hold(self, reservation: Reservation, holder: object) -> None:
        """Renew `reservation` while `holder` (what will settle it) lives; a holder dropped
        unsettled (a response never read) releases it."""
        with self._lock:
            if self._renewer_pid != os.getpid():
                # A forked child inherits the parent's set but not its thread or replies.
                self._held, self._renewer, self._renewer_pid = {}, None, os.getpid()
            self._held[reservation.id] = weakref.ref(holder)
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew, name="quota-holds", daemon=True
                )
                self._renewer.start()

    def settle(self, reservation_id: int, spent: Spent | None) -> bool:
        """A reply ended: its row becomes what it used, or goes (None: it used nothing)."""
        with self._lock:
            self._held.pop(reservation_id, None)
        try:
            with self._writer.begin() as connection:
                if spent is None:
                    connection.execute(delete(UsageEvent).where(UsageEvent.id == reservation_id))
                else:
                    connection.execute(
                        update(UsageEvent)
                        .where(UsageEvent.id == reservation_id)
                        .values(reserved=None, held_until=None, **spent.model_dump())
                    )
        except (SQLAlchemyError, OSError) as error:
            self._failed("written", error)
            return False
        self._worked()
        return True

    def _renew(self) -> None:
        """Every quarter hold: push the live holds' `held_until` on, release the dropped ones."""
        while True:
            time.sleep(HOLD_SECONDS / 4)
            with self._lock:
                live = [key for key, ref in self._held.items() if ref() is not None]
                dropped = [key for key, ref in self._held.items() if ref() is None]
                if not self._held:
                    self._renewer = None  # idle: the next hold starts another
                    return
            for key in dropped:
                self.settle(key, None)
            if live:
                self._extend(live)

    def _extend(self, ids: list[int]) -> None:
        until = utcnow() + timedelta(seconds=HOLD_SECONDS)
        try:
            with self._writer.begin() as connection:
                connection.execute(
                    update(UsageEvent)
                    .where(UsageEvent.id.in_(ids), UsageEvent.reserved.is_not(None))
                    .values(held_until=until)
                )
        except (SQLAlchemyError, OSError) as error:
            self._failed("renewed", error)

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
