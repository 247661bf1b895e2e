"""Abuse limits, per client IP (after TRUSTED_PROXIES, see api/security.py).

- MAX_REQUEST_PER_HOUR: every request to the upstream with the server's key (the page's
  stream, /api/chat, the gateway, and the connection check: one per provider it asks) shares one
  hourly budget per IP, counted by Flask-Limiter in a moving window.
- Wrong passwords at /login: a few per minute per IP (with ACCOUNTS=true, per name and per
  address instead: api/signin_limits.py).
- MAX_CONCURRENT_STREAMS: open streams per IP.
- Attachments' uploads, with MAX_REQUEST_PER_HOUR set: MAX_ATTACHMENTS times as many per
  hour per IP, counted apart from the chat requests (an upload asks no model anything).

Counters live in RATELIMIT_STORAGE_URI: `memory://` counts per process (with several gunicorn
workers each has its own count), `redis://host:6379` is shared by every worker and instance.
A limited request is a real 429 with `Retry-After`, its body saying how long to wait.

Redis down or frozen is a decision, not an accident: every limit goes on with the same numbers
in a per-process store (never "allow all"), the log says so once per outage, and each Redis
call gives up after REDIS_TIMEOUT, so a frozen Redis costs a chat at most a few such waits
instead of the 5 s per call the client waits by default.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import Flask, current_app, has_app_context, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import MemoryStorage, Storage

from api.responses import error_response
from config import Settings
from i18n import wait_text

log = logging.getLogger(__name__)

# The routes that ask a model something (each costs the owner money).
CHAT_ENDPOINTS = ("chat_api.chat_stream", "chat_api.chat_once", "gateway.chat_completions")
LOGIN_ENDPOINT = "auth.login"
# Attachments' uploads (api/attachments.py): no model call, but each is checked and decoded on
# the server; MAX_ATTACHMENTS per chat request's worth of them per hour.
UPLOAD_ENDPOINT = "attachments.upload"
# Wrong passwords per IP; right ones are not counted.
LOGIN_LIMIT = "10/minute;60/hour"
# An open-stream counter lost with a killed worker expires after this long.
STREAM_SLOT_TTL = 3600
STREAM_RETRY_AFTER = 2
# Seconds a Redis call may take. A healthy Redis answers in about a millisecond; a frozen one
# (SIGSTOP, a stuck failover) would otherwise hold each chat for the client's 5 s default.
REDIS_TIMEOUT = 0.5
# While Redis is down, the stream counter tries it again this often (one request pays a timeout).
REDIS_RETRY_SECONDS = 15.0
HEALTH = "limits_health"


class StoreHealth:
    """Whether the shared limit store answers; the log hears of each change once, per process."""

    def __init__(self, uri: str):
        parts = urlsplit(uri)
        # Scheme, host and port only: the URI may carry a password.
        self.where = (
            f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
        )
        self.down = False
        self._lock = threading.Lock()

    def failed(self, reason: object) -> None:
        with self._lock:
            if self.down:
                return
            self.down = True
        log.error(
            "RATELIMIT_STORAGE_URI %s is unreachable (%s): limits now count in this process "
            "only, with the same numbers, until it answers again",
            self.where,
            reason,
        )

    def recovered(self) -> None:
        with self._lock:
            if not self.down:
                return
            self.down = False
        log.warning("RATELIMIT_STORAGE_URI %s answers again: limits are shared again", self.where)


class _FallbackNotices(logging.Filter):
    """Flask-Limiter switches its hourly and login limits to memory and back without a hook;
    its two log lines are the signal. The app's StoreHealth says it once, in its own words."""

    def filter(self, record: logging.LogRecord) -> bool:
        health = current_app.extensions.get(HEALTH) if has_app_context() else None
        if health is None:
            return True
        message = record.getMessage()
        if "falling back to in-memory" in message:
            health.failed("the hourly and login limits could not reach it")
            return False
        if "storage recovered" in message:
            health.recovered()
            return False
        return True


_fallback_notices = _FallbackNotices()


@dataclass
class StreamSlots:
    """At most `limit` open streams per client, counted where the rate limits are.

    When the shared store fails, slots are counted in this process (`local`) until it answers
    again; a slot is given back to the store that counted it.
    """

    limiter: Limiter
    limit: int
    health: StoreHealth
    local: Storage = field(default_factory=MemoryStorage)
    _retry_at: float = 0.0

    def _key(self, client: str) -> str:
        return f"chat/open-streams/{client}"

    def _store(self) -> Storage:
        if self.health.down and time.monotonic() < self._retry_at:
            return self.local
        return self.limiter.storage

    def acquire(self, client: str) -> Storage | None:
        """Take a slot: the store that counted it, or None when all `limit` are open."""
        store = self._store()
        try:
            count = store.incr(self._key(client), STREAM_SLOT_TTL)
        except Exception as error:
            self.health.failed(error)
            self._retry_at = time.monotonic() + REDIS_RETRY_SECONDS
            store = self.local
            count = store.incr(self._key(client), STREAM_SLOT_TTL)
        else:
            if store is not self.local:
                self.health.recovered()
        if count > self.limit:
            self.release(store, client)
            return None
        return store

    def release(self, store: Storage, client: str) -> None:
        try:
            left = store.incr(self._key(client), STREAM_SLOT_TTL, amount=-1)
            if left < 0:  # the counter expired while streams were open
                store.clear(self._key(client))
        except Exception as error:
            # Redis went away meanwhile; the counter expires after STREAM_SLOT_TTL.
            self.health.failed(error)


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
    uri = settings.ratelimit_storage_uri
    timeouts = {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}
    limiter = Limiter(
        client_address,
        app=server,
        storage_uri=uri,
        storage_options=timeouts if uri.startswith(("redis", "rediss")) else {},
        strategy="moving-window",
        headers_enabled=True,
        key_prefix="chat",
        # Redis down: the same limits, counted in this process, instead of failing every chat
        # (and instead of none). Its checks for Redis coming back are spaced out.
        in_memory_fallback_enabled=True,
    )
    health = server.extensions[HEALTH] = StoreHealth(uri)
    limiter.logger.addFilter(_fallback_notices)
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
        if settings.max_attachments and UPLOAD_ENDPOINT in server.view_functions:
            uploads = per_hour * settings.max_attachments
            upload_limit = limiter.limit(
                f"{uploads}/hour",
                scope="uploads",
                error_message=f"This app allows {uploads} uploads per hour from one address.",
            )
            server.view_functions[UPLOAD_ENDPOINT] = upload_limit(
                server.view_functions[UPLOAD_ENDPOINT]
            )
    if not settings.accounts:
        # With accounts, wrong passwords are counted per name and per address instead
        # (api/signin_limits.py): one address's wrong guesses must not lock out a class.
        login_limit = limiter.limit(
            LOGIN_LIMIT, methods=["POST"], deduct_when=lambda response: response.status_code == 401
        )
        server.view_functions[LOGIN_ENDPOINT] = login_limit(server.view_functions[LOGIN_ENDPOINT])
    if settings.max_concurrent_streams:
        server.extensions["stream_slots"] = StreamSlots(
            limiter, settings.max_concurrent_streams, health
        )

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
    store = slots.acquire(client)
    if store is None:
        raise TooManyStreams(slots.limit)
    return lambda: slots.release(store, client)


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
