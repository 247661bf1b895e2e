"""The routes' side of per-user quotas (services/quota.py): the meter of the reply a request
asks for (services/metering.py), with its worst case reserved under a budget, and the refusal
of a request once the user's day is spent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from api.identity import current_identity, current_user
from api.responses import error_response
from extensions import accounts, chat_service, quota
from i18n import wait_text
from services.metering import Meter
from services.quota import REFUSAL_KIND, Quota, QuotaState

GATEWAY_OWNER = "gateway"


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


def metered(
    source: str,
    model: str,
    sent: list[dict],
    *,
    max_tokens: int | None,
    persona: str | None = None,
    conversation: Callable[[], str | None] | str | None = None,
    choices: int = 1,
) -> tuple[Meter | None, int | None]:
    """The reply's meter (None with records off) and the max_tokens to send it with: the
    request's own, or what is left of the user's day when that is less. Under a budget the
    reply's worst case is reserved now, so replies that start together cannot all spend the
    same tokens. `choices` replies at once (the gateway's `n`) are held together, each capped
    at its share. Raises DaySpent when nothing is left (others took the rest meanwhile)."""
    used = meter(source, model, sent, persona=persona, conversation=conversation)
    keeper = quota()
    if used is None or keeper is None or accounts() is None:
        return used, max_tokens
    budget = keeper.budget(current_user())
    if budget is None or current_user() is None:
        return used, max_tokens
    # With no max_tokens of its own, a reply may be as long as MAX_REPLY_TOKENS allows.
    most = max_tokens or chat_service().settings.max_reply_tokens
    cap = used.hold(budget, most, choices)
    return used, max_tokens if cap is None else cap


def quota_cut(events: Iterable[dict]) -> Iterator[dict]:
    """`events` of a reply sent with what was left of the day as its max_tokens: its end at
    that length says so (`quota_cut`), so the page tells the day ran out, not a length cap."""
    for event in events:
        if event.get("done") and event.get("finish_reason") == "length":
            event = {**event, "quota_cut": True}
        yield event


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
    return None if state is None else refused(state)


def refused(state: QuotaState):
    """The 429 that refuses a request for `state`'s day (see `refusal`)."""
    return error_response(
        429,
        REFUSAL_KIND,
        refusal_message(state),
        retry_after=state.seconds_to_reset(),
        fields={"quota": refusal_fields(state)},
    )
