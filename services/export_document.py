"""The whole export a user downloads: labels in their language, the models, totals and cost.

Apart from the Dash callback (callbacks/export.py) so the round trip can be tested as a user
makes it: an export imported and exported again gives the same file, totals included.
"""

from __future__ import annotations

from datetime import datetime

from i18n import t
from services import export
from services.pricing import PriceTable, conversation_totals, format_cost


def labels(lang: str | None) -> dict[str, str]:
    """The human words of the file, in `lang`."""
    return {
        "title": t(lang, "export.title"),
        "exported": t(lang, "export.exported"),
        "model": t(lang, "export.model"),
        "user": t(lang, "role.user"),
        "assistant": t(lang, "role.assistant"),
        "feedback": t(lang, "export.feedback"),
        "attachments": t(lang, "export.attachments"),
    }


def summary(turns: list[dict], prices: PriceTable, lang: str | None) -> list[str]:
    """The token total and cost lines under the title (none when nothing was counted)."""
    totals = conversation_totals(turns, prices)
    lines = []
    if totals["total_tokens"]:
        lines.append(
            f"{t(lang, 'export.tokens')}: {totals['total_tokens']:,} "
            f"({totals['prompt_tokens']:,} prompt + {totals['completion_tokens']:,} reply)"
        )
    if totals["cost"]:
        costs = " + ".join(format_cost(a, c) for c, a in totals["cost"].items())
        lines.append(f"{t(lang, 'export.cost')}: {costs}")
    return lines


def document(
    history: list[dict],
    *,
    lang: str | None,
    prices: PriceTable,
    default_model: str,
    now: datetime,
    versions: dict[int, tuple[int, int]] | None = None,
) -> str:
    """The Markdown file for the user and assistant turns of `history`; `versions` (by index
    of `history`: services/branches.py) says which version of a message the file holds."""
    kept = [(i, e) for i, e in enumerate(history) if e.get("role") in ("user", "assistant")]
    turns = [entry for _, entry in kept]
    notes = {
        at: t(lang, "version.label", k=versions[i][0], n=versions[i][1])
        for at, (i, _) in enumerate(kept)
        if i in (versions or {})
    }
    models = sorted({e["model"] for e in turns if e.get("model")})
    return export.to_markdown(
        turns,
        model=", ".join(models) or default_model,
        now=now,
        labels=labels(lang),
        summary=summary(turns, prices, lang),
        notes=notes,
    )
