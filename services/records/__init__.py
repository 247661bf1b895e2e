"""Conversations kept on the server: SQLite by default, PostgreSQL for several machines.

`Records` (repository.py) is the whole API; `python -m services.records.cli` is for operators.
"""

from services.records.repository import Records

__all__ = ["Records"]
