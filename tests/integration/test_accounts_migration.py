"""An existing deployment upgrades to the accounts schema (migration 0005) without losing a
conversation, on SQLite and on PostgreSQL, and the upgrade can be undone."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from services.accounts import Accounts
from services.records import Records
from services.records.repository import MIGRATIONS

NEW_TABLES = {"users", "api_tokens", "usage_events", "audit_log"}


@pytest.fixture
def url(either_database_url: str) -> str:
    return either_database_url


def migrate(records: Records, target: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with records._writer.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)


YESTERDAY = [
    "INSERT INTO conversations (id, owner, title, model, persona, created_at, updated_at, "
    "prompt_tokens, completion_tokens, last_seq) VALUES ('c0ffee00c0ffee00c0ffee00c0ffee00', "
    "'browser-a', '问一个问题', 'gpt-4o', 'chef', :now, :now, 12, 3, 2)",
    "INSERT INTO messages (conversation_id, seq, role, content, created_at) VALUES "
    "('c0ffee00c0ffee00c0ffee00c0ffee00', 1, 'user', '问一个问题', :now)",
    "INSERT INTO messages (conversation_id, seq, role, content, model, status, prompt_tokens, "
    "completion_tokens, created_at) VALUES ('c0ffee00c0ffee00c0ffee00c0ffee00', 2, "
    "'assistant', 'An answer', 'gpt-4o', 'done', 12, 3, :now)",
]
CID = "c0ffee00c0ffee00c0ffee00c0ffee00"


def test_a_deployment_of_yesterday_keeps_its_conversations(url):
    records = Records(url)
    migrate(records, "0004")  # the schema before accounts, written as that code wrote it
    with records._writer.begin() as connection:
        for statement in YESTERDAY:
            connection.execute(text(statement), {"now": "2026-12-01 10:00:00"})

    records.upgrade()
    history = records.history("browser-a", CID)
    assert [(entry["role"], entry["content"]) for entry in history] == [
        ("user", "问一个问题"),
        ("assistant", "An answer"),
    ]
    assert records.list_conversations("browser-a")[0]["title"] == "问一个问题"
    with records.engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) >= NEW_TABLES
    # The new tables work, and a browser's conversations can move into an account.
    accounts = Accounts(records)
    amy = accounts.add_user("amy", "amy-password")
    assert accounts.adopt("browser-a", amy.id) == 1
    assert records.history(amy.id, CID) == history
    assert records.history("browser-a", CID) is None

    # And back: the conversation is still there for yesterday's code.
    migrate(records, "0004", down=True)
    with records.engine.connect() as connection:
        assert not NEW_TABLES & set(inspect(connection).get_table_names())
        assert connection.scalar(text("SELECT count(*) FROM messages")) == 2
    records.upgrade()
    assert records.history(amy.id, CID) == history
    records.close()
