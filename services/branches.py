"""Versions of a conversation (regenerate and edit): the one rule, on plain data.

The thread the page shows (the history: the server's messages, or the browser's copy) is
always the active path, so everything that reads it (context, export, totals, the sidebar)
needs to know nothing of versions. The versions left behind are an archive beside it:

    branches = {"p": {"active": k, "tails": [tail, ..., None, ...]}}

for each position p of the active path where the thread was asked again (regenerate: p is the
reply's index; edit: the question's). `tails[active]` is None: that version is the history
itself from p on. Every other slot holds a tail, `{"entries": [...], "branches": {...}}`:
the entries from p on, and the archive of the positions after p as it was on that path.
"""

from __future__ import annotations

import copy

# A bound on the versions of one message: far above use, it keeps a browser's stored copy
# (or a crafted one) from growing without end.
MAX_VERSIONS = 100


class BranchError(ValueError):
    """A fork or a switch that does not fit the thread (a stale page, a crafted request)."""


def _split(branches: dict, p: int) -> tuple[dict, dict]:
    """(the slots before or at p, the slots after p)."""
    before, after = {}, {}
    for key, slot in (branches or {}).items():
        (after if int(key) > p else before)[key] = slot
    return before, after


def fork(history: list[dict], branches: dict | None, p: int) -> tuple[list[dict], dict]:
    """Keep history[p:] as a version at p and start a new, empty one there.

    Returns (history[:p], branches); the new version is active, and whatever is asked next
    fills it. Raises BranchError when p is not a position of the thread.
    """
    if not 0 <= p < len(history):
        raise BranchError(f"no message at {p}")
    before, after = _split(copy.deepcopy(branches or {}), p)
    tail = {"entries": copy.deepcopy(history[p:]), "branches": after}
    slot = before.get(str(p))
    if slot is None:
        slot = before[str(p)] = {"active": 0, "tails": [None]}
    if len(slot["tails"]) >= MAX_VERSIONS:
        raise BranchError("too many versions")
    slot["tails"][slot["active"]] = tail
    slot["tails"].append(None)
    slot["active"] = len(slot["tails"]) - 1
    return list(history[:p]), before


def switch(
    history: list[dict], branches: dict | None, p: int, version: int
) -> tuple[list[dict], dict]:
    """Show version `version` (from 0) at p: the history from p on is archived in its slot,
    and that version's entries (with the archive of their later positions) come back."""
    before, after = _split(copy.deepcopy(branches or {}), p)
    slot = before.get(str(p))
    if slot is None or not 0 <= version < len(slot["tails"]) or p > len(history):
        raise BranchError(f"no version {version} at {p}")
    if version == slot["active"]:
        return list(history), {**before, **after}
    restored = slot["tails"][version]
    if not isinstance(restored, dict):
        raise BranchError(f"version {version} at {p} is missing")
    slot["tails"][slot["active"]] = {"entries": copy.deepcopy(history[p:]), "branches": after}
    slot["tails"][version] = None
    slot["active"] = version
    return [*history[:p], *restored.get("entries", [])], {**before, **restored.get("branches", {})}


def versions(branches: dict | None) -> dict[int, tuple[int, int]]:
    """{position: (k, n)} for `‹ k / n ›`, from 1, on the active path."""
    found = {}
    for key, slot in (branches or {}).items():
        try:  # the browser's copy may be of any shape: what is not a slot shows nothing
            tails, active = slot["tails"], int(slot["active"])
            if isinstance(tails, list) and len(tails) > 1 and 0 <= active < len(tails):
                found[int(key)] = (active + 1, len(tails))
        except (TypeError, KeyError, ValueError):
            continue
    return found


def regenerate_at(history: list[dict], at: int) -> int | None:
    """Where regenerating the reply at `at` forks: right after its question, when it is a
    finished reply (not one still streaming) to the newest question; None otherwise. (An
    error the record kept between the two, from a retry, goes into the version too.)"""
    newest = max((i for i, e in enumerate(history) if e.get("role") == "user"), default=None)
    if newest is None or not newest < at < len(history):
        return None
    reply = history[at]
    if reply.get("role") != "assistant" or reply.get("status") == "streaming":
        return None
    return newest + 1


def editable(history: list[dict], q: int) -> bool:
    """Whether entry q is a question, which an edit asks again from."""
    return 0 <= q < len(history) and history[q].get("role") == "user"


def rated_in_versions(history: list[dict], branches: dict | None) -> list[tuple[str, dict]]:
    """(question, reply) for every reply with feedback in the versions not shown, nested ones
    too: a 👎 then a regenerate is the case the console's feedback list most needs to keep."""
    found: list[tuple[str, dict]] = []

    def walk(path: list[dict], slots: dict) -> None:
        for key, slot in (slots or {}).items():
            try:
                p, tails = int(key), slot["tails"]
            except (TypeError, KeyError, ValueError):
                continue
            for tail in tails if isinstance(tails, list) else []:
                if not isinstance(tail, dict):
                    continue  # None: the version shown
                version = [*path[:p], *tail.get("entries", [])]
                question = ""
                for i, entry in enumerate(version):
                    if entry.get("role") == "user":
                        question = entry.get("content") or ""
                    elif i >= p and entry.get("role") == "assistant" and entry.get("feedback"):
                        found.append((question, entry))
                walk(version, tail.get("branches") or {})

    walk(list(history), branches or {})
    return found
