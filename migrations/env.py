"""Alembic environment for the records tables.

`Records.upgrade()` passes its own connection (already inside a transaction that holds the
upgrade lock) in `config.attributes["connection"]`. The `alembic` command line gets none and
connects to the DATABASE_URL of the app's settings.
"""

from __future__ import annotations

from alembic import context

from services.records.models import Base

config = context.config


# The full-text search that migration 0007 makes by hand (SQLite's FTS5 table and its shadow
# tables, PostgreSQL's generated tsvector column) has no model: autogenerate leaves it alone.
FULL_TEXT_TABLE = "attachment_passages_fts"


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    if type_ == "table" and name and name.startswith(FULL_TEXT_TABLE):
        return False
    if type_ == "column" and name == "search" and obj.table.name == "attachment_passages":
        return False
    return not (type_ == "index" and name == "ix_attachment_passages_search")


def run(connection) -> None:
    context.configure(
        connection=connection, target_metadata=Base.metadata, include_object=include_object
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
elif context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
else:
    from config import load_settings
    from services.records.repository import Records

    with Records(load_settings().database_url).engine.begin() as connection:
        run(connection)
