"""Build the OpenAI SDK clients the rest of the app talks through."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpcore2
import httpx2
import openai

from config import Settings
from services.cancel import current_cancel, shut_down_socket

if TYPE_CHECKING:
    from services.providers import ProviderSpec

log = logging.getLogger(__name__)

# The SDK insists on a key; self-hosted endpoints (Ollama, vLLM) accept any placeholder.
PLACEHOLDER_KEY = "not-needed"


DONE_LINE = b"data:[DONE]"  # the space after the colon is optional in SSE


class _SSERepairStream(httpx2.SyncByteStream):
    """Make every `data:` line of an upstream SSE body its own, terminated event.

    Some Azure streams end their last event without the blank line that terminates it. The
    SDK then silently drops that event (losing the last text or the finish reason), or, when
    `data: [DONE]` follows directly, merges the two and fails to parse JSON. Chat Completions
    events are always one `data:` line, so a blank line after each is always right; extra
    blank lines are ignored by every SSE parser.

    It also reads the body to its end once `data: [DONE]` has come. The SDK stops reading at
    `[DONE]` and closes the response, and a response closed before its end (the last,
    zero-length chunk, which OpenAI sends right after) takes its connection down with it: every
    reply would open a new TCP and TLS connection to the upstream. Read to the end, the
    connection goes back to the pool for the next reply.
    """

    def __init__(self, inner: httpx2.SyncByteStream):
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        rest = b""
        chunks = iter(self._inner)
        for chunk in chunks:
            rest += chunk
            out = bytearray()
            start = 0
            while (end := rest.find(b"\n", start)) != -1:
                line = rest[start:end]
                start = end + 1
                if line.rstrip(b"\r").replace(b"data: ", b"data:", 1) == DONE_LINE:
                    # The text before `[DONE]` goes first: it never waits for the drain.
                    if out:
                        yield bytes(out)
                        out = bytearray()
                    rest += self._drain(chunks)
                out += line + b"\n"
                if line.startswith(b"data:"):
                    out += b"\n"
            rest = rest[start:]
            if out:
                yield bytes(out)
        if rest.strip():
            yield rest + b"\n\n"

    @staticmethod
    def _drain(chunks: Iterator[bytes]) -> bytes:
        """What follows `[DONE]`, to its end (normally just the body's last chunk)."""
        tail = bytearray()
        try:
            for chunk in chunks:
                tail += chunk
        except Exception:  # an upstream that breaks off here has still answered in full
            log.debug("the upstream's body broke off after [DONE]", exc_info=True)
        return bytes(tail)

    def close(self) -> None:
        self._inner.close()


def _repair_sse(response: httpx2.Response) -> None:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        response.stream = _SSERepairStream(response.stream)


class CancellableStream(httpcore2.NetworkStream):
    """A connection to the upstream whose blocking calls the current `Cancel` can cut short.

    Why: a `Cancel` wakes a read blocked on a silent upstream by shutting its socket down, but
    until the response headers arrive the SDK gives no handle on that socket, and a slow or
    reasoning model may send them late: a browser that left would keep the upstream connection
    open until then. So each read, write and TLS handshake made in a thread with a current
    Cancel (`services.cancel.cancel_scope`) registers a hook that shuts this socket down, for
    the length of that one call only. A pooled connection, idle or in use by another request,
    is never touched; with no current Cancel the call is made as is.
    """

    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def _cancellable(self) -> contextlib.AbstractContextManager:
        cancel = current_cancel()
        if cancel is None:
            return contextlib.nullcontext()
        # Already cancelled: the hook runs at once, and the call fails fast on a shut socket.
        return cancel.on_cancel(self._shut_down)

    def _shut_down(self) -> None:
        shut_down_socket(self._inner.get_extra_info("socket"))

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with self._cancellable():
            return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with self._cancellable():
            self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        with self._cancellable():
            return CancellableStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class CancellableBackend(httpcore2.NetworkBackend):
    """Opens connections as `CancellableStream`s (see there)."""

    def __init__(self, inner: httpcore2.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return CancellableStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.NetworkStream:
        return CancellableStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _make_cancellable(client: httpx2.Client) -> httpx2.Client:
    """Open every connection of `client` (direct or through a proxy) as a `CancellableStream`.

    httpx2 has no public way to hand httpcore2 a network backend, and a transport of our own
    would turn off the proxies from the environment (HTTPS_PROXY), so the backend of each
    connection pool the client built is wrapped in place. Should that ever fail (an httpx2
    upgrade), requests still work, but a client that leaves keeps the upstream connection open
    until its headers arrive or the timeout passes (and test_stream_faults fails).
    """
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            if transport is not None:
                log.warning("cannot cut %r short on cancel: no network backend", transport)
            continue
        if not isinstance(backend, CancellableBackend):
            pool._network_backend = CancellableBackend(backend)
    return client


def http_client(settings: Settings) -> httpx2.Client:
    """The HTTP client under every SDK client: proxy in `local` mode, SSE repair always, and
    connections a `Cancel` can cut short even before the response headers (see above)."""
    client = openai.DefaultHttpxClient(
        # `python chat_app.py local`: every upstream request goes through LOCAL_PROXY.
        # Otherwise httpx honours HTTPS_PROXY / HTTP_PROXY from the environment.
        proxy=settings.proxy,
        # The repair reads the raw body, so it must not be compressed; SSE text is small.
        headers={"Accept-Encoding": "identity"},
        event_hooks={"response": [_repair_sse]},
    )
    return _make_cancellable(client)


def build_client(provider: ProviderSpec, key: str | None, settings: Settings) -> openai.OpenAI:
    """One client per provider: it pools connections, so later requests skip TCP/TLS setup."""
    common = {
        "api_key": key or PLACEHOLDER_KEY,
        "timeout": settings.upstream_timeout,
        # Retries follow services/retry.py (bounded waits, before the first token only); the
        # SDK's own would sleep as long as a Retry-After asks, beyond anyone's patience.
        "max_retries": 0,
        "http_client": http_client(settings),
    }
    if provider.kind == "azure":
        # The SDK turns model=<deployment> into /openai/deployments/<deployment>/... and sends
        # the key in the `api-key` header.
        return openai.AzureOpenAI(
            azure_endpoint=provider.endpoint, api_version=provider.api_version, **common
        )
    return openai.OpenAI(base_url=provider.base_url or None, **common)


_WARM_CHUNKS = (
    b'data: {"id":"w","object":"chat.completion.chunk","created":0,"model":"m","choices":'
    b'[{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":null}]}\n\n'
    b'data: {"id":"w","object":"chat.completion.chunk","created":0,"model":"m","choices":'
    b'[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,'
    b'"completion_tokens":1,"total_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)


def warm_sdk() -> None:
    """Run one streamed request through the SDK against an in-memory answer, no network.

    The SDK builds its request and response models lazily: measured here, a process's first
    stream took about 30 ms longer to open and read than the next. gunicorn calls this in its
    master before forking (gunicorn.conf.py), so no visitor's first reply pays for it.
    """

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=_WARM_CHUNKS
        )

    http = httpx2.Client(
        transport=httpx2.MockTransport(answer), event_hooks={"response": [_repair_sse]}
    )
    with openai.OpenAI(
        api_key=PLACEHOLDER_KEY, base_url="http://warm.invalid/v1", http_client=http, max_retries=0
    ) as client:
        stream = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "ok"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        with stream:
            for _ in stream:
                pass
