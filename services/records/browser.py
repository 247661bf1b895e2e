"""Conversations kept in the browser, for servers that keep none (RECORDS_ENABLED=false).

The same interface as `Records`, over the dict the page keeps in local storage
({id: {"title", "updated_at", "history", "persona", "custom_prompt", "branches"}}), so the sidebar
works the
same either way, by the same rule: a conversation with no messages is not listed. The owner is
the browser itself, so the `owner` arguments are ignored.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services import branches as versions_rule
from services.records.models import is_id
from services.records.repository import question_title


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _title(entry: dict) -> str:
    """The title given (a rename), else the first question's (as the server records name)."""
    if entry.get("title"):
        return entry["title"]
    question = next((e for e in entry.get("history") or [] if e.get("role") == "user"), None)
    if not question:
        return ""
    return question_title(question.get("content") or "", question.get("attachments"))


class BrowserRecords:
    """Records over the browser's own copy; `data` is what to store back in the page."""

    def __init__(self, data: dict | None):
        self.data = {cid: dict(entry) for cid, entry in (data or {}).items()}

    def create_conversation(
        self, owner: str, *, title: str = "", proposed_id: str | None = None, **_ignored
    ) -> str:
        """A new, empty conversation; `proposed_id` is used when it is shaped like an id and
        free (as `Records.create_conversation` does)."""
        if is_id(proposed_id) and proposed_id not in self.data:
            conversation_id = proposed_id
        else:
            conversation_id = uuid.uuid4().hex
        self.data[conversation_id] = {"title": title, "updated_at": _now(), "history": []}
        return conversation_id

    def conversation(self, owner: str, conversation_id: str) -> dict | None:
        entry = self.data.get(conversation_id)
        if entry is None:
            return None
        return {"id": conversation_id, "title": _title(entry), "updated_at": entry["updated_at"]}

    def fixed_persona(self, owner: str, conversation_id: str) -> dict | None:
        """As `Records.fixed_persona`: the persona the page kept with the conversation
        (assets/chat.js keepConversation)."""
        entry = self.data.get(conversation_id)
        if entry is None:
            return None
        return {
            "persona": entry.get("persona"),
            "custom_prompt": entry.get("custom_prompt"),
            "started": bool(entry.get("history")),
        }

    def list_conversations(self, owner: str, *, query: str | None = None, limit: int = 200):
        query = (query or "").strip().lower()

        def matches(entry: dict) -> bool:
            texts = [_title(entry), *(e.get("content", "") for e in entry["history"])]
            return not query or any(query in (text or "").lower() for text in texts)

        found = [
            self.conversation(owner, cid)
            for cid, entry in self.data.items()
            if entry.get("history") and matches(entry)
        ]
        found.sort(key=lambda c: c["updated_at"], reverse=True)
        return found[:limit]

    def history(self, owner: str, conversation_id: str) -> list[dict] | None:
        entry = self.data.get(conversation_id)
        return list(entry["history"]) if entry else None

    def rename(self, owner: str, conversation_id: str, title: str) -> bool:
        if conversation_id not in self.data:
            return False
        self.data[conversation_id]["title"] = title
        return True

    def delete(self, owner: str, conversation_id: str) -> bool:
        return self.data.pop(conversation_id, None) is not None

    def clear(self, owner: str, conversation_id: str) -> bool:
        """Empty the conversation and forget its title (as `Records.clear`); it keeps its id."""
        entry = self.data.get(conversation_id)
        if entry is None:
            return False
        self.data[conversation_id] = {
            **entry,
            "title": "",
            "history": [],
            "branches": None,
            "updated_at": _now(),
        }
        return True

    def branches(self, owner: str, conversation_id: str) -> dict | None:
        """As `Records.branches`: the versions the page keeps with its copy."""
        entry = self.data.get(conversation_id)
        return None if entry is None else (entry.get("branches") or {})

    def fork(self, owner: str, conversation_id: str, p: int) -> list[dict] | None:
        """As `Records.fork`, on the browser's copy."""
        return self._reshape(conversation_id, lambda h, b: versions_rule.fork(h, b, p))

    def switch_version(
        self, owner: str, conversation_id: str, p: int, version: int
    ) -> list[dict] | None:
        """As `Records.switch_version`, on the browser's copy."""
        return self._reshape(conversation_id, lambda h, b: versions_rule.switch(h, b, p, version))

    def _reshape(self, conversation_id: str, change) -> list[dict] | None:
        entry = self.data.get(conversation_id)
        if entry is None:
            return None
        try:
            history, branches = change(list(entry.get("history") or []), entry.get("branches"))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None  # a position that is not there, or a copy of the wrong shape
        self.data[conversation_id] = {**entry, "history": history, "branches": branches}
        return history

    def add_message(self, owner: str, conversation_id: str, entry: dict) -> bool:
        return self.save_history(
            conversation_id, [*(self.history(owner, conversation_id) or []), entry]
        )

    def save_history(
        self, conversation_id: str, history: list[dict], persona: dict | None = None
    ) -> bool:
        """Keep the page's thread as this conversation's record; `persona`
        ({"persona", "custom_prompt"}) is kept when a question is added to a conversation that
        has none (a new one, an imported one), and stays.

        The page does the same in the browser after each turn (assets/chat.js keepConversation);
        neither titles it: `_title` does, when the list is read.
        """
        entry = self.data.setdefault(
            conversation_id, {"title": "", "updated_at": _now(), "history": []}
        )
        if persona and len(history) > len(entry["history"]) and not entry.get("persona"):
            entry.update(persona)
        if len(history) != len(entry["history"]):
            entry["updated_at"] = _now()  # opening a conversation does not move it up
        entry["history"] = list(history)
        return True
