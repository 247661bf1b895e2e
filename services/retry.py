"""The one retry rule for every request to a model: bounded waits, before the first token only.

The SDK would retry by itself, but it sleeps as long as a Retry-After asks (up to a minute)
and cannot be interrupted, so every client is built with `max_retries=0` and each caller
(ChatService.stream, ChatService.complete, the gateway) retries here instead, up to
OPENAI_MAX_RETRIES times. Only a caller knows when its first token went out; after that it
retries nothing, since another try would be a second, different reply.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import httpx2
import openai

from services.errors import ChatError, classify, requested_wait

log = logging.getLogger(__name__)

RETRY_FIRST_DELAY = 0.5  # seconds, doubled after each failed attempt (less up to 25% jitter)
RETRY_MAX_DELAY = 4.0  # the longest single wait; a longer Retry-After is reported, not obeyed
RETRY_WINDOW = 20.0  # no retry starts later than this after the first attempt began
# Error kinds worth another attempt: the upstream was busy, broken or unreachable for a moment.
RETRYABLE_KINDS = frozenset(
    {"timeout", "connection_error", "stream_cut", "rate_limited", "upstream_error"}
)

T = TypeVar("T")


def retry_wait(failure: BaseException | None, error: ChatError, attempt: int) -> float | None:
    """Seconds to wait before attempt `attempt + 1` of a reply with no text yet, or None.

    Retried: rate limits, server errors, lost connections, timeouts, streams that broke.
    Not retried: what another try cannot change (a bad key, a refused request, no quota), and
    a Retry-After longer than RETRY_MAX_DELAY: the user is told now rather than kept
    waiting. Waits grow 0.5, 1, 2 ... s, capped at RETRY_MAX_DELAY; a shorter Retry-After
    is obeyed as is.
    """
    if failure is not None and not isinstance(failure, (openai.APIError, httpx2.HTTPError)):
        return None  # a bug of ours, not the upstream's: another try changes nothing
    retryable = error.kind in RETRYABLE_KINDS
    if isinstance(failure, openai.APIStatusError):
        # As the SDK does: the upstream may say itself, and 408/409 are worth another try.
        should = failure.response.headers.get("x-should-retry")
        retryable = should != "false" and (
            retryable or should == "true" or failure.status_code in (408, 409)
        )
    if not retryable:
        return None
    asked = requested_wait(failure)
    if asked is not None and asked > RETRY_MAX_DELAY:
        return None
    if asked is not None and asked > 0:
        return asked
    delay = min(RETRY_FIRST_DELAY * 2**attempt, RETRY_MAX_DELAY)
    return delay * (1 - 0.25 * random.random())


def cause(exc: BaseException) -> BaseException:
    """The SDK's exception behind a ChatError (it holds the status and Retry-After), or `exc`."""
    if isinstance(exc, ChatError) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


class Retries:
    """What is left of one reply's retries: `count` at most, none later than RETRY_WINDOW."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.attempt = 0
        self._started = time.monotonic()

    def next_wait(self, failure: BaseException | None, error: ChatError) -> float | None:
        """Seconds to wait before trying again after `failure`, or None: report `error` now."""
        if self.attempt >= self.count:
            return None
        wait = retry_wait(failure, error, self.attempt)
        if wait is None or time.monotonic() - self._started + wait > RETRY_WINDOW:
            return None
        self.attempt += 1
        log.info(
            "upstream failed before the first text (%s); retry %d of %d in %.1f s",
            error.kind,
            self.attempt,
            self.count,
            wait,
        )
        return wait


def call_with_retries(call: Callable[[], T], count: int) -> T:
    """`call()` (one whole request), retried under the rule above; raises the last failure."""
    retries = Retries(count)
    while True:
        try:
            return call()
        except Exception as exc:
            failure = cause(exc)
            if not isinstance(failure, (openai.APIError, httpx2.HTTPError)):
                raise  # ours, not the upstream's (and classifying it would log it twice)
            wait = retries.next_wait(failure, classify(exc))
            if wait is None:
                raise
            time.sleep(wait)
