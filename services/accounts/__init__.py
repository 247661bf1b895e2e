"""Accounts (ACCOUNTS=true): users, their passwords and API tokens, and the admins' audit log.

`Accounts` (repository.py) is the one place that reads and writes them; passwords.py hashes.
"""

from services.accounts.repository import AccountError, Accounts, UserView

__all__ = ["AccountError", "Accounts", "UserView"]
