"""Small SQL pieces the console's queries share: a day of a UTC time, date ranges, paging."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import String, func

from services.records.models import UsageEvent

# Spend only: a reply still running holds a reservation against its user's quota
# (services/quota.py), which is not spent yet; its row counts once the reply has ended.
SETTLED = UsageEvent.reserved.is_(None)

PAGE_SIZES = (10, 20, 50, 100)
DEFAULT_PAGE_SIZE = 10


def day(column, dialect: str):
    """`YYYY-MM-DD` of a UTC time column, computed by the database (GROUP BY day)."""
    if dialect == "sqlite":
        # Stored as naive UTC text ("2026-12-06 23:51:58.123456"): its first 10 characters.
        return func.substr(column, 1, 10, type_=String)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)


def midnight(day_: date) -> datetime:
    return datetime.combine(day_, time.min, tzinfo=UTC)


def day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in UTC; the range is swapped if given backwards."""
    if end < start:
        start, end = end, start
    return midnight(start), midnight(end) + timedelta(days=1)


def page_window(page: object, size: object) -> tuple[int, int, int]:
    """(page, size, offset) from what a table sent: a known page size, a page from 1 on."""
    size = size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE
    page = page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else 1
    return page, size, (page - 1) * size
