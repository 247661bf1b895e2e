"""The records as the web app uses them: when the database cannot be written (a full disk, a
read-only file, a lost server), the chat goes on unsaved instead of failing.

Every call of the repository goes through `GuardedRecords`. A database error makes the call
answer "nothing there / nothing done" (None, [], False), turns `saving` off (the page then says
the conversation is not being saved), and is logged once, with its reason and without the SQL
or its parameters (they hold users' messages). The next write that works turns `saving` back on
and says so. Operators' commands (services/records/cli.py) use the repository directly: there a
failure should stop the command.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from services.records.models import is_id, new_id

log = logging.getLogger(__name__)

READS = frozenset(
    {
        "conversation",
        "list_conversations",
        "history",
        "branches",
        "newest_question",
        "fixed_persona",
        "reply_streaming",
        "running_reply",
    }
)
# Writes that add to the records: only one of these working shows the database can take the
# conversation again. A heartbeat or a batch that fits the pages already there can succeed on a
# full disk, and counting it would flip the notice and the log line on every batch.
ADDS = frozenset({"create_conversation", "add_message", "open_reply", "finish_reply"})
# What a call answers when the database fails: "not found" for reads, "not done" for writes.
FAILED = {
    "list_conversations": [],
    "add_message": False,
    "rename": False,
    "delete": False,
    "clear": False,
    "set_persona": False,
}
# Passed through as they are: not the page's calls (start-up, the operators' commands).
PLAIN = frozenset({"close", "upgrade", "export", "purge"})


def reason(error: BaseException) -> str:
    """The database's own words ("database or disk is full"), never the statement or its
    parameters, which SQLAlchemy's message includes."""
    original = getattr(error, "orig", None)
    return str(original) if original is not None else type(error).__name__


class GuardedRecords:
    """`Records`, where a database failure costs the record, not the request."""

    def __init__(self, records, *, saving: bool = True):
        self.records = records
        self.saving = saving
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        attr = getattr(self.records, name)
        if name in PLAIN or name.startswith("_") or not callable(attr):
            return attr
        return lambda *args, **kwargs: self._call(name, attr, args, kwargs)

    def _call(self, name: str, method: Callable, args: tuple, kwargs: dict):
        try:
            result = method(*args, **kwargs)
        except (SQLAlchemyError, OSError) as error:
            self.failed(error)
            if name == "create_conversation":
                # An id that is on no record: the turn goes on, and the next one, finding no
                # such conversation, tries to make it again.
                proposed = kwargs.get("proposed_id")
                return proposed if is_id(proposed) else new_id()
            return FAILED.get(name)
        if name in ADDS:
            self.written()
        return result

    def failed(self, error: BaseException) -> None:
        """A call failed: say why, once until a write works again."""
        with self._lock:
            was_saving, self.saving = self.saving, False
        if was_saving:
            log.error(
                "conversation records cannot be written (%s): chats go on unsaved and the page "
                "says so; logged once until a write works again",
                reason(error),
            )

    def written(self) -> None:
        with self._lock:
            was_saving, self.saving = self.saving, True
        if not was_saving:
            log.warning("conversation records are written again")
