"""Token and cost read-outs: the conversation's total, and the next request's size."""

from __future__ import annotations

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
