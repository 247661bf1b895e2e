"""A console table as CSV: the table's own SELECT, all of it (no page), streamed in batches.

A cell that starts with = + - @ (or a tab / carriage return) gets a leading apostrophe, so a
spreadsheet shows it as text instead of running it as a formula: usernames, titles, comments
and messages are written by users and by the model.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from services.admin import tables

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BATCH = 500
# The columns of each table's CSV, in order (the row models' fields, the key first).
COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(model.model_fields) for name, model in tables.ROW_MODELS.items()
}


def cell(value: object) -> str:
    """One CSV cell: times in ISO 8601, None empty, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def statement_for(
    name: str,
    *,
    filters: tables.ConversationFilter | None = None,
    rating=None,
    day_start: datetime | None = None,
):
    if name == "users":
        return tables.users_query(day_start=day_start)
    if name == "conversations":
        return tables.conversations_query(filters or tables.ConversationFilter())
    if name == "feedback":
        return tables.feedback_query(rating, cell_chars=None)
    if name == "audit":
        return tables.audit_query()
    raise ValueError(f"no such table: {name}")


def lines(engine, name: str, statement) -> Iterator[str]:
    """The CSV text of `statement`'s rows, a header line first, a few hundred rows at a time."""
    columns = COLUMNS[name]
    model = tables.ROW_MODELS[name]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=BATCH).execute(statement)
        for batch in result.partitions():
            for row in batch:
                values = model.model_validate(row._asdict())
                writer.writerow([cell(getattr(values, column)) for column in columns])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def filename(name: str, now: datetime) -> str:
    return now.strftime(f"{name}-%Y%m%d-%H%M%S.csv")
