"""How the page's files travel: compressed (brotli, else gzip), never the event stream.

The page's scripts are about 7.7 MB as files (the feffery components are most of it) and about
2 MB compressed; see bench/page_weight.py. Dash already gives them fingerprinted URLs with a
one-year cache lifetime, so a returning browser fetches only the page, its layout and its
callbacks, which compress to a few KB.
"""

from __future__ import annotations

import threading

from flask import Flask, Request
from flask_compress import Compress

# Fingerprinted: a URL's content never changes, so its compressed body can be kept.
STATIC_PREFIX = "/_dash-component-suites/"


class _StaticFilesCache:
    """Compressed bodies of fingerprinted script files, once per process; nothing else."""

    def __init__(self) -> None:
        self._bodies: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        return self._bodies.get(key)

    def set(self, key: str, value: bytes) -> None:
        if STATIC_PREFIX in key:
            with self._lock:
                self._bodies[key] = value


def _cache_key(current: Request) -> str:
    return current.full_path


def init_delivery(server: Flask) -> None:
    """Compress responses on `server` (call once, before the first request)."""
    server.config.update(
        COMPRESS_ALGORITHM=["br", "gzip"],
        # Brotli 5: about as fast as gzip 6 on the layout and callbacks, 10% smaller.
        COMPRESS_BR_LEVEL=5,
        # Never compress (and so buffer) a streamed response: replies must arrive as written.
        COMPRESS_STREAMS=False,
        COMPRESS_CACHE_BACKEND=_StaticFilesCache,
        COMPRESS_CACHE_KEY=_cache_key,
    )
    Compress(server)
