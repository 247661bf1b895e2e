"""Build the OpenAI SDK clients the rest of the app talks through."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx2
import openai

from config import Settings

if TYPE_CHECKING:
    from services.providers import ProviderSpec

# The SDK insists on a key; self-hosted endpoints (Ollama, vLLM) accept any placeholder.
PLACEHOLDER_KEY = "not-needed"


class _SSERepairStream(httpx2.SyncByteStream):
    """Make every `data:` line of an upstream SSE body its own, terminated event.

    Some Azure streams end their last event without the blank line that terminates it. The
    SDK then silently drops that event (losing the last text or the finish reason), or, when
    `data: [DONE]` follows directly, merges the two and fails to parse JSON. Chat Completions
    events are always one `data:` line, so a blank line after each is always right; extra
    blank lines are ignored by every SSE parser.
    """

    def __init__(self, inner: httpx2.SyncByteStream):
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        rest = b""
        for chunk in self._inner:
            rest += chunk
            lines = rest.split(b"\n")
            rest = lines.pop()
            out = bytearray()
            for line in lines:
                out += line + b"\n"
                if line.startswith(b"data:"):
                    out += b"\n"
            if out:
                yield bytes(out)
        if rest.strip():
            yield rest + b"\n\n"

    def close(self) -> None:
        self._inner.close()


def _repair_sse(response: httpx2.Response) -> None:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        response.stream = _SSERepairStream(response.stream)


def http_client(settings: Settings) -> httpx2.Client:
    """The HTTP client under every SDK client: proxy in `local` mode, SSE repair always."""
    return openai.DefaultHttpxClient(
        # `python chat_app.py local`: every upstream request goes through LOCAL_PROXY.
        # Otherwise httpx honours HTTPS_PROXY / HTTP_PROXY from the environment.
        proxy=settings.proxy,
        # The repair reads the raw body, so it must not be compressed; SSE text is small.
        headers={"Accept-Encoding": "identity"},
        event_hooks={"response": [_repair_sse]},
    )


def build_client(provider: ProviderSpec, key: str | None, settings: Settings) -> openai.OpenAI:
    """One client per provider: it pools connections, so later requests skip TCP/TLS setup."""
    common = {
        "api_key": key or PLACEHOLDER_KEY,
        "timeout": settings.upstream_timeout,
        "max_retries": settings.openai_max_retries,
        "http_client": http_client(settings),
    }
    if provider.kind == "azure":
        # The SDK turns model=<deployment> into /openai/deployments/<deployment>/... and sends
        # the key in the `api-key` header.
        return openai.AzureOpenAI(
            azure_endpoint=provider.endpoint, api_version=provider.api_version, **common
        )
    return openai.OpenAI(base_url=provider.base_url or None, **common)
