"""Sign-in sessions kept on the server, so that logging out (or going idle) ends them.

The browser's cookie carries only a random token; this table holds its SHA-256 (a copy of the
table gives no one a live cookie), the keyed fingerprint of the password it signed in with, and
when it was made and last used. It lives in DATABASE_URL's database: SQLite next to the app by
default (shared by every gunicorn worker), PostgreSQL for several instances. It is used with
RECORDS_ENABLED=false too: a session row holds no conversation.

The table is created here (create_all), not by the records' Alembic migrations: it is
disposable state, and dropping it only signs everyone out.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import (
    Column,
    Float,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    or_,
    select,
    update,
)
from sqlalchemy.exc import OperationalError, ProgrammingError

from services.records.repository import database_url

metadata = MetaData()
sessions = Table(
    "chat_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False, index=True),
)
# Last use is written at most this often per session: a page load is dozens of requests.
TOUCH_EVERY = 60.0


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _sqlite_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # Workers share the file: wait for another's write instead of failing at once.
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _forget_pool(store: SessionStore | None) -> None:
    if store is not None:
        store.engine.dispose(close=False)


class SessionStore:
    """Sessions that end on logout, after `idle` seconds unused, or `lifetime` after sign-in.

    `clock` (seconds, like time.time) is a parameter so tests can move time on.
    """

    def __init__(
        self,
        url: str,
        *,
        idle: float,
        lifetime: float,
        clock: Callable[[], float] = time.time,
    ):
        parsed = database_url(url)
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database or ""
            if path and path != ":memory:" and not path.startswith("file:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(parsed, hide_parameters=True)
            event.listen(self.engine, "connect", _sqlite_connect)
        else:
            self.engine = create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
        self.idle = idle
        self.lifetime = lifetime
        self.clock = clock
        # As for the records: a worker forked from the master must not share its connections.
        if hasattr(os, "register_at_fork"):
            alive = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_pool(alive()))

    def create_table(self) -> None:
        """Create the table if it is missing (several instances starting at once: one wins)."""
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except (OperationalError, ProgrammingError):
            metadata.create_all(self.engine, checkfirst=True)  # another one just made it
        self.engine.dispose()  # start-up often runs in a process that forks next

    def create(self, fingerprint: str) -> str:
        """A new session for a password's fingerprint: the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as connection:
            connection.execute(self._expired())
            connection.execute(
                sessions.insert().values(
                    token_hash=_hash(token), fingerprint=fingerprint, created_at=now, last_seen=now
                )
            )
        return token

    def fingerprint(self, token: str) -> str | None:
        """The fingerprint of a live session (its last use is noted), or None."""
        now = self.clock()
        key = _hash(token)
        with self.engine.connect() as connection:
            row = connection.execute(select(sessions).where(sessions.c.token_hash == key)).first()
        if row is None:
            return None
        if now - row.last_seen > self.idle or now - row.created_at > self.lifetime:
            self.revoke(token)
            return None
        if now - row.last_seen >= min(TOUCH_EVERY, self.idle / 4):
            with self.engine.begin() as connection:
                connection.execute(
                    update(sessions).where(sessions.c.token_hash == key).values(last_seen=now)
                )
        return row.fingerprint

    def revoke(self, token: str) -> None:
        """End a session at once, for every worker and instance."""
        with self.engine.begin() as connection:
            connection.execute(delete(sessions).where(sessions.c.token_hash == _hash(token)))

    def revoke_all(self, fingerprint: str) -> int:
        """End every session of one fingerprint (an account's, after its password was reset)."""
        with self.engine.begin() as connection:
            done = connection.execute(delete(sessions).where(sessions.c.fingerprint == fingerprint))
        return done.rowcount

    def _expired(self):
        now = self.clock()
        return delete(sessions).where(
            or_(
                sessions.c.last_seen < now - self.idle,
                sessions.c.created_at < now - self.lifetime,
            )
        )
