"""Wrong passwords and sign-up codes with ACCOUNTS=true, counted so that one person's wrong
guesses neither unlock anything nor lock out a class sharing one school router.

Only wrong answers count; a right password never does. A pause refuses even the right
password (otherwise the pause would not slow guessing down), with the same words whether the
name exists or not (counted by the name typed, existing or not).

- one name from one address: PAIR_LIMIT wrong passwords, then that name pauses there;
- one name from every address: NAME_LIMIT (a guesser spreading over many addresses);
- one address, whatever the names: ADDRESS_LIMIT, far above what a class mistypes;
- sign-up codes from one address: SIGNUP_LIMIT wrong ones.

The counters live where the other limits do (RATELIMIT_STORAGE_URI, Redis shared by every
worker and instance); when that store fails they go on in this process with the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.limits import HEALTH, client_address
from services.accounts.repository import name_key

log = logging.getLogger(__name__)

PAIR_LIMIT = "10/15 minutes"
NAME_LIMIT = "30/hour"
ADDRESS_LIMIT = "100/hour"
SIGNUP_LIMIT = "20/hour"

_local = MovingWindowRateLimiter(MemoryStorage())


def _limiter():
    """Flask-Limiter's strategy (its in-process one while the store is down)."""
    found = current_app.extensions.get("limiter")
    return next(iter(found)).limiter if found else _local


def _name(username: str) -> str:
    # Hashed: the key's size does not depend on what was typed, and no name sits in Redis.
    return hashlib.sha256(name_key(username or "").encode()).hexdigest()[:24]


def _checks(username: str) -> list[tuple[RateLimitItem, tuple[str, ...], str]]:
    address, name = client_address(), _name(username)
    return [
        (parse(ADDRESS_LIMIT), ("signin-address", address), "login.too_many"),
        (parse(PAIR_LIMIT), ("signin-pair", name, address), "login.too_many_account"),
        (parse(NAME_LIMIT), ("signin-name", name), "login.too_many_account"),
    ]


def _call(method: str, item: RateLimitItem, keys: tuple[str, ...]):
    try:
        return getattr(_limiter(), method)(item, "chat", *keys)
    except Exception as error:  # the shared store is down: count here, same numbers
        health = current_app.extensions.get(HEALTH)
        if health is not None:
            health.failed(error)
        return getattr(_local, method)(item, "chat", *keys)


def _wait(item: RateLimitItem, keys: tuple[str, ...]) -> int | None:
    if _call("test", item, keys):
        return None
    reset = _call("get_window_stats", item, keys).reset_time
    return max(1, int(reset - time.time()))


def signin_pause(username: str) -> tuple[int, str] | None:
    """(seconds to wait, i18n key of why) when this sign-in must not even be checked."""
    for item, keys, why in _checks(username):
        wait = _wait(item, keys)
        if wait is not None:
            return wait, why
    return None


def count_wrong_password(username: str) -> None:
    for item, keys, _ in _checks(username):
        _call("hit", item, keys)


def signup_pause() -> int | None:
    """Seconds to wait when this address has given too many wrong sign-up codes."""
    return _wait(parse(SIGNUP_LIMIT), ("signup-code", client_address()))


def count_wrong_code() -> None:
    _call("hit", parse(SIGNUP_LIMIT), ("signup-code", client_address()))
