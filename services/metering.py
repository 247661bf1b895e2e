"""One reply's usage on its way to `usage_events` (services/quota.py): its worst case reserved
when it starts (under a budget), what it really used written when it ends, however it ends.

Made where the reply is asked for (api/usage.py for the routes, services/terminal for the
terminal chat) and called when the reply ends, which may be in another thread after the
response has gone: so it holds everything it needs and reads no request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from services.pricing import PriceTable
from services.quota import Quota, QuotaState, Reservation, Spent, charge, estimate, reply_usage


class DaySpent(Exception):
    """Nothing is left of the user's day (others took the rest): refuse the request (`state`)."""

    def __init__(self, state: QuotaState):
        super().__init__("daily quota spent")
        self.state = state


@dataclass
class Meter:
    """One reply's usage on its way to `usage_events`: written once, however it ends."""

    quota: Quota
    prices: PriceTable
    owner: str
    source: str
    model: str
    # The messages sent: a reply without the upstream's count is counted from them.
    sent: list[dict]
    persona: str | None = None
    conversation: Callable[[], str | None] | str | None = None
    # The reply's row, written when it started (`reserve`): the end updates it.
    reservation: Reservation | None = None
    _done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ended(self, entries: list[dict]) -> None:
        """The reply ended (`record_result`'s entries): write what it used, once."""
        with self._lock:
            if self._done:
                return
            self._done = True
        counted = reply_usage(entries, sent=self.sent, model=self.model)
        if counted is None:
            # Failed before its first token (or never ran): nothing was used.
            if self.reservation is not None:
                self.quota.settle(self.reservation.id, None)
            return
        prompt, completion, _estimated = counted
        reply = next((e for e in entries if e.get("role") == "assistant"), {})
        model = reply.get("model") or self.model
        conversation = self.conversation() if callable(self.conversation) else self.conversation
        spent = Spent(
            owner=self.owner,
            source=self.source,
            conversation_id=conversation,
            model=model,
            persona=self.persona,
            prompt_tokens=prompt,
            completion_tokens=completion,
            **charge(self.prices, model, prompt, completion),
        )
        if self.reservation is not None:
            self.quota.settle(self.reservation.id, spent)
        else:
            self.quota.record(spent)

    def reserve(self, budget: int, reply_tokens: int) -> Reservation | QuotaState | None:
        """Hold the reply's worst case (its prompt, counted here, and `reply_tokens`) before it
        starts: the Reservation, the day's state when nothing is left (refuse), or None when
        the database fails (then it is counted when it ends, as without a budget)."""
        prompt, _, _ = estimate(self.sent, "", self.model)
        conversation = self.conversation if isinstance(self.conversation, str) else None
        start = Spent(
            owner=self.owner,
            source=self.source,
            conversation_id=conversation,
            model=self.model,
            persona=self.persona,
            prompt_tokens=prompt,
        )
        held = self.quota.reserve(start, budget, reply_tokens=reply_tokens)
        if isinstance(held, Reservation):
            self.reservation = held
            self.quota.hold(held, self)
        return held

    def hold(self, budget: int, most: int, choices: int = 1) -> int | None:
        """Reserve `choices` replies of up to `most` tokens each under `budget` before they
        start: the cap to send each with when less is left (None: they fit whole, or the
        database failed and they are counted when they end). Raises DaySpent when nothing is
        left (others took the rest meanwhile)."""
        held = self.reserve(budget, most * choices)
        if isinstance(held, QuotaState):
            raise DaySpent(held)
        if isinstance(held, Reservation) and held.max_tokens is not None:
            return max(1, held.max_tokens // choices)
        return None

    def answered(self, usage: dict | None, reply: str, *, model: str | None = None) -> None:
        """A whole reply (the JSON routes): its usage, or a count of it when there is none."""
        entry = {"role": "assistant", "content": reply, "model": model or self.model}
        entry["usage"] = usage
        self.ended([entry])
