"""The routes' side of per-user quotas (services/quota.py): a meter that writes what a reply
used when it ends, and the refusal of a request once the user's day is spent.

A meter is made while the request is served (who asks, with which model and messages) and
called when the reply ends, which may be in another thread after the response has gone (a
stream read on after its page left): so it holds everything it needs and reads nothing from
the request then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from api.identity import current_identity, current_user
from api.responses import error_response
from extensions import accounts, chat_service, quota
from i18n import wait_text
from services.pricing import PriceTable
from services.quota import REFUSAL_KIND, Quota, QuotaState, Spent, charge, reply_usage

GATEWAY_OWNER = "gateway"


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
            return  # failed before its first token: nothing was used
        prompt, completion, _estimated = counted
        reply = next((e for e in entries if e.get("role") == "assistant"), {})
        model = reply.get("model") or self.model
        conversation = self.conversation() if callable(self.conversation) else self.conversation
        self.quota.record(
            Spent(
                owner=self.owner,
                source=self.source,
                conversation_id=conversation,
                model=model,
                persona=self.persona,
                prompt_tokens=prompt,
                completion_tokens=completion,
                **charge(self.prices, model, prompt, completion),
            )
        )

    def answered(self, usage: dict | None, reply: str, *, model: str | None = None) -> None:
        """A whole reply (the JSON routes): its usage, or a count of it when there is none."""
        entry = {"role": "assistant", "content": reply, "model": model or self.model}
        entry["usage"] = usage
        self.ended([entry])


def meter(
    source: str,
    model: str,
    sent: list[dict],
    *,
    persona: str | None = None,
    conversation: Callable[[], str | None] | str | None = None,
) -> Meter | None:
    """A meter for the reply the current request asks for; None with records off."""
    keeper = quota()
    if keeper is None:
        return None
    # The gateway's own keys (GATEWAY_API_KEYS) are no one's: their rows share one owner
    # rather than a new anonymous id per request.
    owner = GATEWAY_OWNER if source == "gateway" and current_user() is None else None
    return Meter(
        keeper,
        chat_service().prices,
        owner or current_identity(),
        source,
        model,
        list(sent),
        persona,
        conversation,
    )


def day_spent() -> QuotaState | None:
    """The signed-in user's day when nothing of it is left (refuse the request), else None.

    Only with ACCOUNTS=true and a budget that applies (the user's own or USER_DAILY_TOKENS).
    """
    keeper = quota()
    if keeper is None or accounts() is None:
        return None
    state = keeper.left(current_user())
    return state if state is not None and state.spent else None


def refusal_fields(state: QuotaState, keeper: Quota | None = None) -> dict:
    """What a refusal says beyond its message, for scripts and the page's notice."""
    keeper = keeper or quota()
    return {
        "used": state.used,
        "budget": state.budget,
        "resets_at": state.resets_at.isoformat(),
        "timezone": keeper.zone_name if keeper is not None else "UTC",
    }


def refusal_message(state: QuotaState, keeper: Quota | None = None) -> str:
    """The refusal in plain words, for API clients (the page words it in its language)."""
    keeper = keeper or quota()
    zone = keeper.zone_name if keeper is not None else "UTC"
    wait = wait_text("en", state.seconds_to_reset())
    return (
        f"You have used today's {state.budget:,} tokens. "
        f"The count starts again at 00:00 {zone} (in {wait})."
    )


def refusal():
    """The 429 for a request of a user whose day is spent (None: go on), in the /api routes'
    error form: JSON, or one SSE event for the page, which shows it in the thread."""
    state = day_spent()
    if state is None:
        return None
    return error_response(
        429,
        REFUSAL_KIND,
        refusal_message(state),
        retry_after=state.seconds_to_reset(),
        fields={"quota": refusal_fields(state)},
    )
