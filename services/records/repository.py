"""Store and read conversations: the one place that talks to the records database.

Every call that names a conversation also names its owner, and a conversation that is not the
owner's behaves exactly like one that does not exist (None / False), so ids cannot be probed.
"""

from __future__ import annotations

import os
import weakref
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    URL,
    Integer,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from services import branches as versions_rule
from services.conversation import INTERRUPTED, STOPPED, STREAMING
from services.feedback import DOWN, MAX_COMMENT_CHARS, VALUES, can_rate, clean_comment
from services.records.models import (
    UTC,
    ArchivedFeedback,
    Attachment,
    Conversation,
    Message,
    is_id,
    new_id,
    utcnow,
)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
TITLE_CHARS = 60
TOKEN_KEYS = ("prompt_tokens", "completion_tokens")
# Any constant works, as long as every process that upgrades uses the same one.
UPGRADE_LOCK_KEY = zlib.crc32(b"services.records: alembic upgrade")

# A reply's 👍 / 👎 in its history entry (present only when given): "up" | "down", the 👎's
# comment, and when (ISO 8601). Columns of their own, so the console can read them.
FEEDBACK_KEYS = ("feedback", "feedback_comment", "feedback_at")
# The keys of a browser history entry that have columns; any other key goes to `extra`.
ENTRY_KEYS = {
    "user": {"role", "content"},
    "assistant": {"role", "content", "model", "usage", "status", *FEEDBACK_KEYS},
    "error": {"role", "kind", "detail"},
}
SUMMARY = (
    Conversation.id,
    Conversation.title,
    Conversation.model,
    Conversation.persona,
    Conversation.created_at,
    Conversation.updated_at,
    Conversation.prompt_tokens,
    Conversation.completion_tokens,
)


def database_url(url: str) -> URL:
    """The URL to connect with. `postgres://` and `postgresql://`, as hosting platforms hand
    them out, mean psycopg 3: the driver this app installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def auto_title(content: str) -> str:
    """The first non-blank line, at most TITLE_CHARS long (ending in "…" when cut)."""
    line = next((line.strip() for line in content.splitlines() if line.strip()), "")
    if len(line) > TITLE_CHARS:
        line = line[: TITLE_CHARS - 1].rstrip() + "…"
    return line


def question_title(content: str, attachments: list | None = None) -> str:
    """A conversation's title from its first question: its text, or for a picture asked about
    without words, the first attachment's name."""
    names = (str(ref.get("name") or "") for ref in attachments or [] if isinstance(ref, dict))
    return auto_title(content) or auto_title(next(names, ""))


def _count(value: object) -> int | None:
    # Usage comes from the browser: a count is a non-negative int or it is nothing.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _message_values(entry: dict) -> dict:
    """Columns for one browser history entry; raises ValueError for an unknown role."""
    role = entry.get("role")
    if role not in ENTRY_KEYS:
        raise ValueError(f"unknown history entry role: {role!r}")
    values: dict = dict.fromkeys(
        ("model", "status", "error_kind", "error_detail", *TOKEN_KEYS), None
    )
    values.update(role=role, content="")
    extra = {key: value for key, value in entry.items() if key not in ENTRY_KEYS[role]}
    if role == "error":
        values["error_kind"] = entry.get("kind")
        values["error_detail"] = entry.get("detail")
    else:
        content = entry.get("content")
        values["content"] = content if isinstance(content, str) else str(content or "")
    if role == "assistant":
        values["model"] = entry.get("model")
        values["status"] = entry.get("status")
        usage = entry.get("usage")
        if isinstance(usage, dict):
            for key in TOKEN_KEYS:
                values[key] = _count(usage.get(key))
            # Keep what has no column (e.g. `estimated`, or a count that was not an int).
            rest = {k: v for k, v in usage.items() if k not in TOKEN_KEYS or values[k] is None}
            if rest or all(values[key] is None for key in TOKEN_KEYS):
                extra["usage"] = rest
        # Only when given: finishing a reply (an update of its row) leaves feedback alone.
        values.update(_feedback_values(entry))
    values["extra"] = extra or None
    return values


def _feedback_values(entry: dict) -> dict:
    """The feedback columns of an assistant entry that has feedback (one moved by a version
    switch keeps it, and when it was given); {} otherwise."""
    value = entry.get("feedback")
    if value not in VALUES:
        return {}
    comment = entry.get("feedback_comment")
    comment = comment[:MAX_COMMENT_CHARS] if value == DOWN and isinstance(comment, str) else None
    try:
        at = datetime.fromisoformat(entry.get("feedback_at"))
        at = at if at.tzinfo is not None else None
    except (TypeError, ValueError):
        at = None
    return {
        "feedback": value,
        "feedback_comment": clean_comment(comment),
        "feedback_at": at or utcnow(),
    }


def _feedback(row) -> dict:
    """A stored reply's feedback as its history entry carries it ({} when none)."""
    if row.feedback not in VALUES:
        return {}
    found = {"feedback": row.feedback}
    if row.feedback_comment:
        found["feedback_comment"] = row.feedback_comment
    if row.feedback_at is not None:
        found["feedback_at"] = row.feedback_at.isoformat()
    return found


def _entry(row) -> dict:
    """A stored message back in the browser's history format."""
    extra = dict(row.extra or {})
    if row.role == "error":
        entry = {"role": "error", "kind": row.error_kind, "detail": row.error_detail}
    elif row.role == "assistant":
        had_usage = "usage" in extra
        usage = {key: getattr(row, key) for key in TOKEN_KEYS if getattr(row, key) is not None}
        usage.update(extra.pop("usage", {}))
        entry = {
            "role": "assistant",
            "content": row.content,
            "model": row.model,
            "usage": usage if usage or had_usage else None,
            "status": row.status,
        }
    else:
        entry = {"role": row.role, "content": row.content}
    entry.update(extra)
    if row.role == "assistant":
        entry.update(_feedback(row))
    return entry


def _summary(row) -> dict:
    summary = row._asdict()
    summary["created_at"] = summary["created_at"].isoformat()
    summary["updated_at"] = summary["updated_at"].isoformat()
    return summary


def _sqlite_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_connect(dbapi_connection, _record) -> None:
    # SQLAlchemy, not the sqlite3 module, emits BEGIN (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Wait for another process's write instead of failing at once with "database is locked".
    cursor.execute("PRAGMA busy_timeout = 5000")
    # Readers and the writer no longer block each other. NORMAL sync is safe with WAL; a power
    # cut may lose the last commits but never corrupts the file.
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")  # ON DELETE CASCADE is off without it
    cursor.close()
    # SQLite's lower() folds ASCII only; search should find "Äpfel" when asked for "äpfel".
    dbapi_connection.create_function("lower", 1, _sqlite_lower, deterministic=True)


def _sqlite_begin(connection) -> None:
    # A writer takes the write lock up front. A deferred transaction that has read and then
    # wants to write gets "database is locked" at once, without waiting for busy_timeout.
    immediate = connection.get_execution_options().get("records_write")
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _messages(connection, conversation_id: str) -> list:
    """A conversation's message rows, oldest first (the caller has checked the owner)."""
    return connection.execute(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
    ).all()


def _newest_question(connection, owner: str, conversation_id: str) -> int | None:
    """The seq of the owner's conversation's newest question (None: none, or not theirs)."""
    return connection.scalar(
        select(func.max(Message.seq))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.id == conversation_id,
            Conversation.owner == owner,
            Message.role == "user",
        )
    )


def _still_asked(connection, owner: str, conversation_id: str, after: int | None) -> bool:
    """Whether the owner's conversation still holds the message `after` (the seq of the
    question a reply answers); its row stays locked until commit.

    Seqs are never reused in a conversation (`clear` keeps `last_seq`), so once it is cleared
    a late write of a reply that answered it finds nothing to follow. The lock comes first: on
    PostgreSQL a clear that commits while this waits is seen by the next statement, where a
    subquery of the waiting statement would still see the question.
    """
    locked = connection.execute(
        select(Conversation.id)
        .where(Conversation.id == conversation_id, Conversation.owner == owner)
        .with_for_update()
    ).first()
    if locked is None:
        return False
    if after is None:
        return True
    return bool(
        connection.scalar(
            select(exists().where(Message.conversation_id == conversation_id, Message.seq == after))
        )
    )


def _append(
    connection,
    owner: str,
    conversation_id: str,
    values: dict,
    now: datetime,
    after: int | None = None,
):
    """Insert one message at the end of the owner's conversation (only while the message
    `after` is still there, when given); its row id, or None."""
    if after is not None and not _still_asked(connection, owner, conversation_id, after):
        return None
    # One statement checks the owner, bumps the counter and the totals, and locks the row
    # until commit, so concurrent writers get consecutive, unique seq numbers.
    bumped = connection.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.owner == owner)
        .values(
            last_seq=Conversation.last_seq + 1,
            updated_at=now,
            prompt_tokens=Conversation.prompt_tokens + (values["prompt_tokens"] or 0),
            completion_tokens=Conversation.completion_tokens + (values["completion_tokens"] or 0),
        )
        .returning(Conversation.last_seq, Conversation.title)
    ).first()
    if bumped is None:
        return None
    seq, title = bumped
    row_id = connection.execute(
        insert(Message)
        .values(conversation_id=conversation_id, seq=seq, created_at=now, **values)
        .returning(Message.id)
    ).scalar_one()
    if values["role"] == "user" and title == "":
        asked_before = connection.scalar(
            select(
                exists().where(
                    Message.conversation_id == conversation_id,
                    Message.role == "user",
                    Message.seq < seq,
                )
            )
        )
        if not asked_before:
            connection.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(
                    title=question_title(
                        values["content"], (values.get("extra") or {}).get("attachments")
                    )
                )
            )
    return row_id


def _archive_feedback(connection, conversation_id: str, history: list, branches) -> None:
    """Keep archived_feedback equal to the rated replies in the conversation's versions."""
    connection.execute(
        delete(ArchivedFeedback).where(ArchivedFeedback.conversation_id == conversation_id)
    )
    rows = []
    for question, reply in versions_rule.rated_in_versions(history, branches):
        values = _feedback_values(reply)
        if values:
            rows.append(
                {
                    "conversation_id": conversation_id,
                    "question": question,
                    "reply": reply.get("content") or "",
                    "model": reply.get("model"),
                    **values,
                }
            )
    if rows:
        connection.execute(insert(ArchivedFeedback), rows)


def _forget_pool(records: Records | None) -> None:
    if records is not None:
        records.engine.dispose(close=False)


def _attachments_of(connection, conversations) -> list[str]:
    """The ids of the attachments in the conversations `conversations` selects (their rows go
    with them, ON DELETE CASCADE; their files are the attachments' store's to delete)."""
    return list(
        connection.scalars(
            select(Attachment.id).where(Attachment.conversation_id.in_(conversations))
        )
    )


class Records:
    """Conversations and their messages, per owner (an anonymous browser identity)."""

    # Set by the attachments' store (services/attachments/store.py), in the app and in the
    # operator commands: deletes the files of attachments whose rows a delete here took with
    # it, once that delete has committed.
    on_attachments_deleted: Callable[[list[str]], None] | None = None

    def attachments_deleted(self, ids: list[str]) -> None:
        """Tell the attachments' store that these attachments' rows are gone."""
        if ids and self.on_attachments_deleted is not None:
            self.on_attachments_deleted(ids)

    def __init__(self, url: str):
        parsed = database_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            path = parsed.database or ""
            if path and path != ":memory:" and not path.startswith("file:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Errors name the statement, never its values (a conversation, a title).
            self.engine = create_engine(parsed, hide_parameters=True)
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            # A server restart or an idle timeout leaves dead connections in the pool.
            self.engine = create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
        # Same pool; its transactions are the ones that write.
        self._writer = self.engine.execution_options(records_write=True)
        # gunicorn's preload_app builds the app (and this pool) before it forks the workers. A
        # connection used by two processes corrupts SQLite files and PostgreSQL sessions, so
        # a forked child starts with an empty pool and leaves the parent's connections alone.
        if hasattr(os, "register_at_fork"):
            alive = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_pool(alive()))

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def upgrade(self) -> None:
        """Apply the Alembic migrations up to head. Idempotent, and safe when several workers
        start at once: they take turns, and the later ones find nothing left to do."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        # On SQLite the writer's BEGIN IMMEDIATE is the lock (busy_timeout waits for it).
        with self._writer.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Held until this transaction ends; PostgreSQL's DDL is transactional.
                connection.execute(select(func.pg_advisory_xact_lock(UPGRADE_LOCK_KEY)))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        # Upgrades run at start-up, often in a process that forks the workers next.
        self.engine.dispose()

    def create_conversation(
        self,
        owner: str,
        *,
        title: str = "",
        model: str | None = None,
        persona: str | None = None,
        persona_prompt: str | None = None,
        proposed_id: str | None = None,
    ) -> str:
        """A new, empty conversation; returns its id.

        `proposed_id` (made by the page, so it knows the id before the server answers) is used
        when it is shaped like an id and no conversation has it yet, anyone's; else a new one.
        """
        if not owner:
            raise ValueError("a conversation needs an owner")
        now = utcnow()
        values = {
            "owner": owner,
            "title": title.strip(),
            "model": model,
            "persona": persona,
            "persona_prompt": persona_prompt,
            "created_at": now,
            "updated_at": now,
        }
        if is_id(proposed_id):
            try:
                with self._writer.begin() as connection:
                    connection.execute(insert(Conversation).values(id=proposed_id, **values))
                return proposed_id
            except IntegrityError:
                pass  # taken (by someone else: the caller asked after it): a new id
        conversation_id = new_id()
        with self._writer.begin() as connection:
            connection.execute(insert(Conversation).values(id=conversation_id, **values))
        return conversation_id

    def conversation(self, owner: str, conversation_id: str) -> dict | None:
        """The conversation's summary (times in ISO 8601), or None if it is not the owner's."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(*SUMMARY).where(
                    Conversation.id == conversation_id, Conversation.owner == owner
                )
            ).first()
        return _summary(row) if row else None

    def fixed_persona(self, owner: str, conversation_id: str) -> dict | None:
        """`{"persona", "custom_prompt", "started"}` of the conversation, None if it is not
        the owner's. `started`: it has a message (a persona is fixed once it has)."""
        started = exists().where(Message.conversation_id == Conversation.id)
        with self.engine.connect() as connection:
            row = connection.execute(
                select(Conversation.persona, Conversation.persona_prompt, started).where(
                    Conversation.id == conversation_id, Conversation.owner == owner
                )
            ).first()
        if row is None:
            return None
        return {"persona": row[0], "custom_prompt": row[1], "started": bool(row[2])}

    def set_persona(
        self, owner: str, conversation_id: str, persona: str, persona_prompt: str | None = None
    ) -> bool:
        """Fix the persona of a conversation that has none yet (imported, or without a
        message); False if it is not the owner's or its persona is fixed already."""
        started = exists().where(Message.conversation_id == Conversation.id)
        with self._writer.begin() as connection:
            result = connection.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.owner == owner)
                .where(or_(Conversation.persona.is_(None), ~started))
                .values(persona=persona, persona_prompt=persona_prompt)
            )
        return result.rowcount == 1

    def list_conversations(
        self, owner: str, *, query: str | None = None, limit: int = 200
    ) -> list[dict]:
        """The owner's conversations that have messages, most recently updated first. `query`
        keeps those whose title or any message contains it (case-insensitive).

        An empty conversation (just made, or cleared) is not listed: its first question lists
        it, under that question's title.
        """
        has_messages = exists().where(Message.conversation_id == Conversation.id)
        statement = select(*SUMMARY).where(Conversation.owner == owner, has_messages)
        query = (query or "").strip()
        if query:
            # autoescape: a "%" or "_" the user types is a character, not a wildcard.
            in_messages = exists().where(
                Message.conversation_id == Conversation.id,
                Message.content.icontains(query, autoescape=True),
            )
            statement = statement.where(
                or_(Conversation.title.icontains(query, autoescape=True), in_messages)
            )
        statement = statement.order_by(Conversation.updated_at.desc(), Conversation.id)
        with self.engine.connect() as connection:
            rows = connection.execute(statement.limit(limit)).all()
        return [_summary(row) for row in rows]

    def rename(self, owner: str, conversation_id: str, title: str) -> bool:
        """Set the title; False if the conversation is not the owner's."""
        with self._writer.begin() as connection:
            result = connection.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.owner == owner)
                .values(title=title.strip())
            )
        return result.rowcount == 1

    def delete(self, owner: str, conversation_id: str) -> bool:
        """Delete the conversation, its messages and attachments; False if it is not the
        owner's."""
        owned = select(Conversation.id).where(
            Conversation.id == conversation_id, Conversation.owner == owner
        )
        with self._writer.begin() as connection:
            attachments = _attachments_of(connection, owned)
            result = connection.execute(
                delete(Conversation).where(
                    Conversation.id == conversation_id, Conversation.owner == owner
                )
            )
        self.attachments_deleted(attachments)
        return result.rowcount == 1

    def clear(self, owner: str, conversation_id: str) -> bool:
        """Empty the conversation: its messages (and their versions) go, its title, persona
        and token totals are reset; it keeps its id (the page stays on it). False if it is not
        the owner's.

        `last_seq` stays, so seqs are never given twice: the late writes of a reply that was
        streaming (they name their question's seq, see `add_message`) find it gone.
        """
        with self._writer.begin() as connection:
            owned = connection.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.owner == owner)
                .values(
                    title="",
                    persona=None,
                    persona_prompt=None,
                    prompt_tokens=0,
                    completion_tokens=0,
                    branches=None,
                    updated_at=utcnow(),
                )
            ).rowcount
            if owned != 1:
                return False
            connection.execute(delete(Message).where(Message.conversation_id == conversation_id))
            _archive_feedback(connection, conversation_id, [], None)
            # Its attachments go with the questions that sent them.
            attachments = _attachments_of(connection, [conversation_id])
            if attachments:
                connection.execute(delete(Attachment).where(Attachment.id.in_(attachments)))
        self.attachments_deleted(attachments)
        return True

    def branches(self, owner: str, conversation_id: str) -> dict | None:
        """The conversation's versions archive (services/branches.py; {} when it has none),
        None if it is not the owner's."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(Conversation.branches).where(
                    Conversation.id == conversation_id, Conversation.owner == owner
                )
            ).first()
        return None if row is None else (row[0] or {})

    def fork(self, owner: str, conversation_id: str, p: int) -> list[dict] | None:
        """Keep the messages from position p on as a version, and take them off the thread
        (regenerate: p is the newest reply's place; edit: the question's). The new history,
        or None: not the owner's, no such position, or a reply is still streaming there."""
        return self._reshape(owner, conversation_id, p, lambda h, b: versions_rule.fork(h, b, p))

    def switch_version(
        self, owner: str, conversation_id: str, p: int, version: int
    ) -> list[dict] | None:
        """Show version `version` (from 0) of the messages from p on; the new history, or
        None (as `fork`)."""
        return self._reshape(
            owner, conversation_id, p, lambda h, b: versions_rule.switch(h, b, p, version)
        )

    def _reshape(self, owner: str, conversation_id: str, p: int, change) -> list[dict] | None:
        """Apply `change(history, branches)` in one transaction: the messages from p on are
        replaced by the new history's, under new seqs (never reused: a late write of a reply
        names its question's seq). The token totals stay: the archived replies were paid."""
        now = utcnow()
        with self._writer.begin() as connection:
            conversation = connection.execute(
                select(Conversation.branches, Conversation.last_seq)
                .where(Conversation.id == conversation_id, Conversation.owner == owner)
                .with_for_update()
            ).first()
            if conversation is None:
                return None
            rows = _messages(connection, conversation_id)
            if any(row.status == STREAMING for row in rows):
                return None  # its writes name the rows this would move
            history = [_entry(row) for row in rows]
            try:
                changed, branches = change(history, conversation.branches or {})
            except versions_rule.BranchError:
                return None
            if p < len(rows):
                connection.execute(
                    delete(Message).where(
                        Message.conversation_id == conversation_id, Message.seq >= rows[p].seq
                    )
                )
            seq = conversation.last_seq
            for entry in changed[p:]:
                seq += 1
                connection.execute(
                    insert(Message).values(
                        conversation_id=conversation_id,
                        seq=seq,
                        created_at=now,
                        **_message_values(entry),
                    )
                )
            connection.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(branches=branches, last_seq=seq, updated_at=now)
            )
            _archive_feedback(connection, conversation_id, changed, branches)
        return changed

    def add_message(
        self, owner: str, conversation_id: str, entry: dict, *, after: int | None = None
    ) -> bool:
        """Append one browser history entry (user, assistant or error).

        An assistant's usage adds to the conversation's totals; the first user message names
        a conversation that has no title yet. False if the conversation is not the owner's, or
        if the message `after` (the seq of the question a reply answers) is gone meanwhile.
        """
        values = _message_values(entry)
        with self._writer.begin() as connection:
            return _append(connection, owner, conversation_id, values, utcnow(), after) is not None

    def drop_failed_attempt(self, owner: str, conversation_id: str) -> None:
        """A retry asks the newest question again: the error its failed attempt left after it
        goes, as it goes from the page (assets/chat.js), so a reload shows what the page
        showed and positions (which edits and versions name) agree. Text that came (a cut or
        interrupted reply's) stays on record: nothing written is lost. Nothing goes while a
        reply there still streams."""
        with self._writer.begin() as connection:
            newest = _newest_question(connection, owner, conversation_id)
            if newest is None:
                return
            after = (Message.conversation_id == conversation_id) & (Message.seq > newest)
            streaming = connection.scalar(
                select(func.count()).where(after, Message.status == STREAMING)
            )
            if not streaming:
                connection.execute(delete(Message).where(after, Message.role == "error"))

    def newest_question(self, owner: str, conversation_id: str) -> int | None:
        """The seq of the conversation's newest question: the `after` of the reply to it.
        None if there is none or the conversation is not the owner's."""
        with self.engine.connect() as connection:
            return _newest_question(connection, owner, conversation_id)

    def open_reply(
        self,
        owner: str,
        conversation_id: str,
        content: str,
        *,
        model: str | None,
        writer: str,
        after: int | None = None,
    ) -> int | None:
        """Put a reply that is still streaming on record (status "streaming", by `writer`);
        its row id, or None if the conversation is not the owner's or its question (`after`)
        is gone."""
        entry = {"role": "assistant", "content": content, "model": model, "status": STREAMING}
        values = _message_values(entry)
        now = utcnow()
        values.update(writer=writer, heartbeat_at=now)
        with self._writer.begin() as connection:
            return _append(connection, owner, conversation_id, values, now, after)

    def update_replies(self, texts: dict[int, str], after: dict[int, int] | None = None) -> None:
        """The newest text of streaming replies, {row id: text}, in one transaction; a reply
        no longer streaming (ended, or marked interrupted meanwhile) is left alone, and so is
        one whose question (`after`, {row id: seq}) is gone: a row id SQLite gave again after
        a clear is another reply's."""
        if not texts:
            return
        now = utcnow()
        question = aliased(Message)
        # Typed: PostgreSQL cannot tell the type of a parameter that is only tested for NULL.
        after_seq = bindparam("after", type_=Integer)
        asked = exists().where(
            question.conversation_id == Message.conversation_id, question.seq == after_seq
        )
        statement = (
            update(Message)
            .where(
                Message.id == bindparam("row_id"),
                Message.status == STREAMING,
                or_(after_seq.is_(None), asked),
            )
            .values(content=bindparam("text"), heartbeat_at=now)
        )
        after = after or {}
        rows = [
            {"row_id": row_id, "text": text, "after": after.get(row_id)}
            for row_id, text in texts.items()
        ]
        with self._writer.begin() as connection:
            connection.execute(statement, rows)

    def finish_reply(
        self,
        owner: str,
        conversation_id: str,
        row_id: int,
        entries: list[dict],
        *,
        after: int | None = None,
    ) -> bool:
        """End the streaming reply `row_id` with `record_result`'s entries: the first (the
        reply) replaces the row, whatever it says by now; the rest (an error) follow it.
        False, and nothing written, if the conversation is gone or not the owner's, or the row
        or its question (`after`) is gone (the conversation was cleared meanwhile)."""
        now = utcnow()
        with self._writer.begin() as connection:
            reply, rest = (entries[0], entries[1:]) if entries else ({}, [])
            if reply.get("role") == "assistant":
                values = _message_values(reply)
            else:
                # No text came (an error before the first token): the empty row opened with the
                # question goes; a row with text (not expected) is kept, marked.
                values, rest = {"status": INTERRUPTED}, entries
            if not _still_asked(connection, owner, conversation_id, after):
                return False
            row_there = exists().where(
                Message.id == row_id, Message.conversation_id == conversation_id
            )
            if not connection.scalar(select(row_there)):
                return False
            owned = connection.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.owner == owner)
                .values(
                    updated_at=now,
                    prompt_tokens=Conversation.prompt_tokens + (values.get("prompt_tokens") or 0),
                    completion_tokens=Conversation.completion_tokens
                    + (values.get("completion_tokens") or 0),
                )
            ).rowcount
            if owned != 1:
                return False
            row = (Message.id == row_id, Message.conversation_id == conversation_id)
            emptied = (
                reply.get("role") != "assistant"
                and connection.execute(delete(Message).where(*row, Message.content == "")).rowcount
            )
            if not emptied:
                connection.execute(
                    update(Message).where(*row).values(writer=None, heartbeat_at=None, **values)
                )
            for entry in rest:
                _append(connection, owner, conversation_id, _message_values(entry), now)
        return True

    def reply_streaming(self, row_id: int, *, after: int | None = None) -> bool:
        """Whether the reply `row_id` is still wanted: on record and still "streaming" (not
        stopped by `request_stop`, not cleared away), and, given its question's seq (`after`),
        still that question's (SQLite gives a cleared row's id again)."""
        question = aliased(Message)
        statement = select(Message.status).where(Message.id == row_id)
        if after is not None:
            statement = statement.where(
                exists().where(
                    question.conversation_id == Message.conversation_id, question.seq == after
                )
            )
        with self.engine.connect() as connection:
            status = connection.scalar(statement)
        return status == STREAMING

    def request_stop(self, owner: str, conversation_id: str) -> bool:
        """Ask for the owner's reply streaming in this conversation to stop: it is marked
        stopped, and the process writing it (any worker, any instance) ends it at its next look
        (api/sse.py `relay`'s `keep_going`), keeping the text it has. False when nothing of
        the owner's streams there (an answer that does not tell whose the conversation is)."""
        owned = exists().where(Conversation.id == conversation_id, Conversation.owner == owner)
        with self._writer.begin() as connection:
            result = connection.execute(
                update(Message)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.status == STREAMING,
                    owned,
                )
                .values(status=STOPPED)
            )
        return result.rowcount > 0

    def running_reply(self, owner: str, conversation_id: str) -> dict | None:
        """The owner's reply still streaming in this conversation ({"content", "model"}, its
        text as of the last batch), or None: none streams, or the conversation is not theirs."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(Message.content, Message.model)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.owner == owner,
                    Message.status == STREAMING,
                )
                .order_by(Message.seq.desc())
                .limit(1)
            ).first()
        return {"content": row.content, "model": row.model} if row else None

    def beat(self, writer: str) -> None:
        """Say that `writer` is still writing its streaming replies (see `sweep`)."""
        with self._writer.begin() as connection:
            connection.execute(
                update(Message)
                .where(Message.writer == writer, Message.status == STREAMING)
                .values(heartbeat_at=utcnow())
            )

    def sweep(self, *, silent_since: datetime, gone: Callable[[str | None], bool]) -> int:
        """Mark interrupted the replies left streaming whose writer is `gone` or has not beaten
        since `silent_since`; their text stays (one with no text yet goes). Returns how many."""
        with self._writer.begin() as connection:
            rows = connection.execute(
                select(Message.id, Message.writer, Message.heartbeat_at).where(
                    Message.status == STREAMING
                )
            ).all()
            dead = [
                row.id
                for row in rows
                if row.heartbeat_at is None or row.heartbeat_at < silent_since or gone(row.writer)
            ]
            if dead:
                # A reply that had no text yet was never begun: its question stands unanswered.
                connection.execute(
                    delete(Message).where(
                        Message.id.in_(dead), Message.status == STREAMING, Message.content == ""
                    )
                )
                connection.execute(
                    update(Message)
                    .where(Message.id.in_(dead), Message.status == STREAMING)
                    .values(status=INTERRUPTED, writer=None, heartbeat_at=None)
                )
        return len(dead)

    def set_feedback(
        self,
        owner: str,
        conversation_id: str,
        at: int,
        value: str | None,
        comment: str | None = None,
        *,
        length: int | None = None,
    ) -> dict | None:
        """Give the reply at position `at` of the owner's conversation (its place in
        `history()`) 👍 ("up"), 👎 ("down", with an optional comment) or none (None: cleared).

        Returns the reply's feedback as its history entry now carries it (`feedback`,
        `feedback_comment`, `feedback_at`; all None once cleared), or None, with nothing
        changed: the conversation is not the owner's (as one that does not exist), there is no
        message at `at`, it is not a finished reply (a question, an error, a reply still
        streaming), or the conversation is not `length` messages long (the caller's thread is
        not this record's, so `at` may name another message). A comment goes with 👎 only;
        ValueError for an unknown value or a comment past MAX_COMMENT_CHARS.
        """
        if value is not None and value not in VALUES:
            raise ValueError(f"feedback is one of {VALUES} or None")
        comment = clean_comment(comment) if value == DOWN else None
        now = utcnow() if value else None
        with self._writer.begin() as connection:
            # Locked, as a fork or a switch locks it: they move the rows `at` names.
            owned = connection.execute(
                select(Conversation.id)
                .where(Conversation.id == conversation_id, Conversation.owner == owner)
                .with_for_update()
            ).first()
            if owned is None:
                return None
            rows = connection.execute(
                select(Message.id, Message.role, Message.status)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.seq)
            ).all()
            if (length is not None and length != len(rows)) or not 0 <= at < len(rows):
                return None
            row = rows[at]
            if not can_rate(row.role, row.status):
                return None
            changed = connection.execute(
                update(Message)
                .where(Message.id == row.id, Message.status.is_not_distinct_from(row.status))
                .values(feedback=value, feedback_comment=comment, feedback_at=now)
            ).rowcount
        if changed != 1:
            return None
        return {
            "feedback": value,
            "feedback_comment": comment,
            "feedback_at": now.isoformat() if now else None,
        }

    def history(self, owner: str, conversation_id: str) -> list[dict] | None:
        """The conversation's entries in the browser's format, oldest first; None if it is not
        the owner's."""
        with self.engine.connect() as connection:
            owned = connection.scalar(
                select(Conversation.id).where(
                    Conversation.id == conversation_id, Conversation.owner == owner
                )
            )
            if owned is None:
                return None
            rows = _messages(connection, conversation_id)
        return [_entry(row) for row in rows]

    def export(self, *, since: datetime | None = None) -> Iterator[dict]:
        """Every message of every conversation as flat rows, for operators. `since` keeps the
        messages created at or after it (a naive datetime is taken as UTC)."""
        statement = (
            select(
                Message.conversation_id,
                Conversation.owner,
                Conversation.title,
                Conversation.persona,
                Message.seq,
                Message.role,
                Message.content,
                Message.model,
                Message.status,
                Message.error_kind,
                Message.error_detail,
                Message.prompt_tokens,
                Message.completion_tokens,
                Message.created_at,
                Message.feedback,
                Message.feedback_comment,
                Message.feedback_at,
                Message.extra,
            )
            .join(Conversation, Conversation.id == Message.conversation_id)
            .order_by(Conversation.created_at, Message.conversation_id, Message.seq)
        )
        if since is not None:
            statement = statement.where(Message.created_at >= _utc(since))
        with self.engine.connect() as connection:
            # Streamed in batches: an export can be larger than memory.
            for row in connection.execution_options(yield_per=500).execute(statement):
                flat = row._asdict()
                flat["created_at"] = flat["created_at"].isoformat()
                if flat["feedback_at"] is not None:
                    flat["feedback_at"] = flat["feedback_at"].isoformat()
                # A question's attachments (name, type, size, id), as its entry keeps them.
                flat["attachments"] = (flat.pop("extra") or {}).get("attachments")
                yield flat

    def purge(self, *, older_than_days: int) -> int:
        """Delete the conversations not updated for `older_than_days` days (and their
        attachments); returns how many."""
        if older_than_days < 1:
            raise ValueError("older_than_days must be at least 1")
        cutoff = utcnow() - timedelta(days=older_than_days)
        old = select(Conversation.id).where(Conversation.updated_at < cutoff)
        with self._writer.begin() as connection:
            attachments = _attachments_of(connection, old)
            result = connection.execute(
                delete(Conversation).where(Conversation.updated_at < cutoff)
            )
        self.attachments_deleted(attachments)
        return result.rowcount
