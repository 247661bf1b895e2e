"""Password hashing: argon2id via argon2-cffi, the library made for it (RFC 9106 defaults).

A hash carries its own parameters and salt, so raising the cost later only needs `needs_rehash`
at the next sign-in. Nothing here logs, and nothing keeps the password itself.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verified against when the name does not exist, so a missing account costs the same time as a
# wrong password and the answer's timing does not tell which names exist.
_DUMMY = _hasher.hash("not a password of anyone")

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; this only bounds the work one request can ask for


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: no such account, still costs one verify)."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def password_problem(password: str) -> str | None:
    """Why a new password is refused (an i18n key), or None."""
    if len(password) < MIN_LENGTH:
        return "accounts.password_short"
    if len(password) > MAX_LENGTH:
        return "accounts.password_long"
    return None
