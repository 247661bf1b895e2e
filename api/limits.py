"""Abuse limits, per client IP (after TRUSTED_PROXIES, see api/security.py).

- MAX_REQUEST_PER_HOUR: every request to the upstream with the server's key (the page's
  stream, /api/chat, the gateway, and the connection check: one per provider it asks) shares one
  hourly budget per IP, counted by Flask-Limiter in a moving window.
- Wrong passwords at /login: a few per minute per IP.
- MAX_CONCURRENT_STREAMS: open streams per IP.

Counters live in RATELIMIT_STORAGE_URI: `memory://` counts per process (with several gunicorn
workers each has its own count), `redis://host:6379` is shared by every worker and instance.
A limited request is a real 429 with `Retry-After`, its body saying how long to wait.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse

from api.responses import error_response
from config import Settings
from i18n import wait_text

log = logging.getLogger(__name__)

# The routes that ask a model something (each costs the owner money).
CHAT_ENDPOINTS = ("chat_api.chat_stream", "chat_api.chat_once", "gateway.chat_completions")
LOGIN_ENDPOINT = "auth.login"
# Wrong passwords per IP; right ones are not counted.
LOGIN_LIMIT = "10/minute;60/hour"
# An open-stream counter lost with a killed worker expires after this long.
STREAM_SLOT_TTL = 3600
STREAM_RETRY_AFTER = 2


@dataclass
class StreamSlots:
    """At most `limit` open streams per client, counted where the rate limits are."""

    limiter: Limiter
    limit: int

    def _key(self, client: str) -> str:
        return f"chat/open-streams/{client}"

    def acquire(self, client: str) -> bool:
        """Take a slot; False when the client already has `limit` streams open."""
        storage = self.limiter.storage
        try:
            count = storage.incr(self._key(client), STREAM_SLOT_TTL)
        except Exception:  # the store is down: serve rather than refuse everyone
            log.warning("stream counter unavailable; not limiting", exc_info=True)
            return True
        if count > self.limit:
            self.release(client)
            return False
        return True

    def release(self, client: str) -> None:
        storage = self.limiter.storage
        try:
            left = storage.incr(self._key(client), STREAM_SLOT_TTL, amount=-1)
            if left < 0:  # the counter expired while streams were open
                storage.clear(self._key(client))
        except Exception:
            log.warning("stream counter unavailable on release", exc_info=True)


@dataclass
class ChatBudget:
    """MAX_REQUEST_PER_HOUR, for code that calls the upstream outside the chat routes (the
    connection check): it counts in the very bucket the chat routes' shared limit uses."""

    limiter: Limiter
    per_hour: int

    def spend(self, cost: int = 1) -> int | None:
        """Count `cost` upstream calls for this client: None when allowed, else the seconds
        until they would be (nothing is counted then)."""
        item = parse(f"{self.per_hour}/hour")
        # Flask-Limiter's key for a shared limit: prefix, client, scope (no endpoint).
        args = ("chat", client_address(), "chat")
        try:
            if self.limiter.limiter.hit(item, *args, cost=cost):
                return None
            reset = self.limiter.limiter.get_window_stats(item, *args).reset_time
        except Exception:  # the store is down: refuse this extra rather than spend unseen
            log.warning("request budget unavailable; refusing the connection check")
            return 60
        return max(1, int(reset - time.time()))


def spend_budget(cost: int = 1) -> int | None:
    """`ChatBudget.spend` for the current app: None when allowed (or unlimited), else the wait."""
    budget: ChatBudget | None = current_app.extensions.get("chat_budget")
    return None if budget is None else budget.spend(cost)


def budget_refusal(wait: int):
    """The 429 for a request over MAX_REQUEST_PER_HOUR, as the chat routes answer it."""
    message = (
        f"The hourly request budget of this address is spent. Try again in {wait_text('en', wait)}."
    )
    return error_response(429, "too_many_requests", message, retry_after=wait)


def client_address() -> str:
    """The client's IP: the peer, or the address trusted proxies forwarded (ProxyFix)."""
    return get_remote_address() or "unknown"


def init_limits(server: Flask, settings: Settings) -> Limiter:
    """Attach the limiter to `server`'s routes (call after every blueprint is registered)."""
    limiter = Limiter(
        client_address,
        app=server,
        storage_uri=settings.ratelimit_storage_uri,
        strategy="moving-window",
        headers_enabled=True,
        key_prefix="chat",
        # Redis down: count in memory for a while instead of failing every chat.
        in_memory_fallback_enabled=True,
    )
    per_hour = settings.max_request_per_hour
    if per_hour:
        chat_limit = limiter.shared_limit(
            f"{per_hour}/hour",
            scope="chat",
            error_message=f"This app allows {per_hour} chat requests per hour from one address.",
        )
        for endpoint in CHAT_ENDPOINTS:
            server.view_functions[endpoint] = chat_limit(server.view_functions[endpoint])
        server.extensions["chat_budget"] = ChatBudget(limiter, per_hour)
    login_limit = limiter.limit(
        LOGIN_LIMIT, methods=["POST"], deduct_when=lambda response: response.status_code == 401
    )
    server.view_functions[LOGIN_ENDPOINT] = login_limit(server.view_functions[LOGIN_ENDPOINT])
    if settings.max_concurrent_streams:
        server.extensions["stream_slots"] = StreamSlots(limiter, settings.max_concurrent_streams)

    @server.errorhandler(RateLimitExceeded)
    def _limited(exc: RateLimitExceeded):
        current = limiter.current_limit
        wait = max(1, int(current.reset_at - time.time())) if current else 60
        if request.endpoint == LOGIN_ENDPOINT and not request.is_json:
            from api.auth import login_screen, login_wait_text

            return login_screen(
                429,
                error=login_wait_text(wait),
                next_path=request.form.get("next") or "/",
                headers={"Retry-After": str(wait)},
            )
        message = f"{exc.description} Try again in {wait_text('en', wait)}."
        return error_response(429, "too_many_requests", message, retry_after=wait)

    return limiter


def open_stream_slot():
    """Take one of the client's stream slots: a release function, None when unlimited.

    Raises `TooManyStreams` (a 429 response ready to return) when every slot is taken.
    """
    slots: StreamSlots | None = current_app.extensions.get("stream_slots")
    if slots is None:
        return None
    client = client_address()
    if not slots.acquire(client):
        raise TooManyStreams(slots.limit)
    return lambda: slots.release(client)


class TooManyStreams(Exception):
    """The client already has its maximum of open streams."""

    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit

    def response(self):
        message = (
            f"You already have {self.limit} replies streaming; wait for one to finish "
            "(or stop it), then retry."
        )
        return error_response(429, "too_many_streams", message, retry_after=STREAM_RETRY_AFTER)
