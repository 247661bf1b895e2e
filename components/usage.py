"""Token and cost read-outs: the conversation's total, and the next request's size."""

from __future__ import annotations

from datetime import datetime, timezone

from i18n import t
from services.pricing import Price, cost, format_cost


def _costs(amounts: dict) -> str:
    return " + ".join(format_cost(amount, currency) for currency, amount in amounts.items())


def usage_summary(totals: dict, *, lang: str) -> str:
    """ "1,234 tokens · ≈ $0.0012" for the header; empty before the first reply."""
    if not totals.get("total_tokens"):
        return ""
    parts = [t(lang, "usage.total", tokens=f"{totals['total_tokens']:,}")]
    if totals.get("cost"):
        parts.append(t(lang, "usage.cost", cost=_costs(totals["cost"])))
    if totals.get("unpriced_models"):
        parts.append(t(lang, "usage.unpriced", models=", ".join(totals["unpriced_models"])))
    return " · ".join(parts)


def request_estimate(tokens: int, price: Price | None, *, lang: str) -> str:
    """ "≈ 1,234 tokens will be sent (≈ $0.0002)" under the message box."""
    if price is None:
        return t(lang, "estimate.next", tokens=f"{tokens:,}")
    amount = format_cost(cost(tokens, 0, price), price.currency)
    return t(lang, "estimate.next_cost", tokens=f"{tokens:,}", cost=amount)


# ---- per-user quotas (issue 17: services/quota.py)


def reset_wait(seconds: int, *, lang: str) -> str:
    """ "3 h 12 min" / "3 小时 12 分钟" until a quota resets (at least a minute)."""
    minutes = max(1, -(-seconds // 60))  # rounded up: "in 0 min" would be wrong
    hours, minutes = divmod(minutes, 60)
    if hours:
        return t(lang, "quota.hours_minutes", h=hours, m=minutes)
    return t(lang, "quota.minutes", m=minutes)


def _zone_name(value: object) -> str:
    # From the page's copy of the thread: a short plain name, or UTC.
    text = str(value or "UTC")
    return text if len(text) <= 64 and text.isprintable() else "UTC"


def quota_notice(entry: dict, *, lang: str, now: datetime | None = None) -> str:
    """The thread's notice for a request refused by the user's daily budget: how many tokens,
    and when they come back (`entry["quota"]`, from the refusal: api/usage.py)."""
    info = entry.get("quota") if isinstance(entry.get("quota"), dict) else {}
    budget = info.get("budget")
    if not isinstance(budget, int) or isinstance(budget, bool):
        return t(lang, "error.daily_quota")
    zone = _zone_name(info.get("timezone"))
    try:
        resets = datetime.fromisoformat(str(info.get("resets_at")))
        left = (resets - (now or datetime.now(timezone.utc))).total_seconds()
    except (TypeError, ValueError):
        left = 0
    if left <= 0:
        return t(lang, "quota.spent_reset", budget=f"{budget:,}", zone=zone)
    wait = reset_wait(int(left), lang=lang)
    return t(lang, "quota.spent", budget=f"{budget:,}", zone=zone, wait=wait)


def quota_left(state, *, lang: str) -> str:
    """ "12,300 of 50,000 tokens left today" for the header (a services.quota.QuotaState)."""
    return t(lang, "quota.left", left=f"{state.left:,}", budget=f"{state.budget:,}")
