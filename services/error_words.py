"""What a failed turn says to its user, in their language: one rule for the page and the
terminal (components/message.py draws it; services/terminal prints it)."""

from __future__ import annotations

import i18n
from i18n import t, wait_text


def error_advice(entry: dict, lang: str) -> tuple[str, str]:
    """(the advice for an error entry, its upstream detail when the advice does not hold it).

    `entry` is an error entry of the thread (`{"kind", "detail", "retry_after"?}`): the kind
    picks the words, and a wait the upstream named (Retry-After) is said when there are words
    for it.
    """
    kind = entry.get("kind") or "internal_error"
    key = f"error.{kind}" if i18n.has(f"error.{kind}") else "error.internal_error"
    detail = entry.get("detail") or ""
    wait = wait_text(lang, entry["retry_after"]) if entry.get("retry_after") else ""
    if wait and i18n.has(f"{key}_wait"):
        key = f"{key}_wait"  # the upstream said how long (Retry-After)
    advice = t(lang, key, detail=detail, wait=wait)
    return advice, detail if detail and detail not in advice else ""
