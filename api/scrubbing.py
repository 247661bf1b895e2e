"""No secret leaves the process: every text response and every log line is scrubbed.

The secrets are the app's configured ones (services/scrub.py says in which shapes): every
provider's key, the gateway's tokens, the passwords, the cookie secret, and the passwords in
DATABASE_URL and RATELIMIT_STORAGE_URI. Responses are scrubbed here, once, after every route
and callback (and before compression); logs by a filter on the log handlers. Call sites need
no care, and the SDK's own messages (which may quote the key) are covered too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flask import Flask, Response
from sqlalchemy.engine import make_url

from config import Settings
from services.chat import ChatService
from services.scrub import SCRUBBER, install_log_filter

# Bodies that carry text a client reads; scripts, styles, images and fonts are our own files.
TEXT_TYPES = frozenset(
    {"application/json", "text/event-stream", "text/html", "text/plain", "text/markdown"}
)


def _url_password(url: str) -> list[str]:
    try:
        password = make_url(url).password
    except Exception:  # not a URL SQLAlchemy reads (memory://): no password in it
        return []
    return [str(password)] if password else []


def configured_secrets(settings: Settings, service: ChatService) -> tuple[list[str], list[str]]:
    """(API keys, which upstreams may quote in part; secrets hidden whole only)."""
    keys = [*service.registry.secrets, *settings.gateway_keys]
    whole = [
        *settings.access_passwords,
        *(_url_password(settings.database_url)),
        *(_url_password(settings.ratelimit_storage_uri)),
    ]
    return keys, whole


class _ScrubbedBody:
    """A streamed body, scrubbed piece by piece; closing it closes the source (the stream's
    generator stops the upstream request when closed)."""

    def __init__(self, source: Iterable):
        self._source = source

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._source:
            if isinstance(piece, str):
                piece = piece.encode()
            yield SCRUBBER.scrub_bytes(piece)

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


def scrub_response(response: Response) -> Response:
    """`response` with its body scrubbed, when it is text that we did not already encode."""
    if response.direct_passthrough or response.mimetype not in TEXT_TYPES:
        return response
    if response.headers.get("Content-Encoding", "identity") != "identity":
        return response
    if response.is_streamed:
        response.response = _ScrubbedBody(response.response)
        return response
    body = response.get_data()
    cleaned = SCRUBBER.scrub_bytes(body)
    if cleaned is not body:
        response.set_data(cleaned)
    return response


def init_scrubbing(server: Flask, settings: Settings, service: ChatService, secret: str) -> None:
    """Register this app's secrets and scrub its responses and the process's logs.

    Call after init_delivery: Flask runs after_request hooks last-registered first, so the
    body is scrubbed before it is compressed.
    """
    keys, whole = configured_secrets(settings, service)
    SCRUBBER.add(keys, [*whole, secret])
    install_log_filter()
    server.after_request(scrub_response)
