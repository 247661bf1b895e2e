"""A real HTTP server that imitates the OpenAI / Azure OpenAI Chat Completions wire format.

Tests program it with scenarios (``Reply``, ``Error``, ``Cut``, ``Hang``, ``StreamError``) and
inspect what it received. It listens on 127.0.0.1 on a free port and serves each connection in
its own daemon thread, so the app under test can reach it through the real ``openai`` SDK, in
this process or in a subprocess. All state lives here, behind a lock.

Example::

    with FakeUpstream(api_key="test-key") as fake:
        fake.script(Reply("Hello"), Error(429, "Rate limit reached", "rate_limit_exceeded"))
        client = OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
        ...
        assert fake.requests[0].body["model"] == "gpt-4o-mini"

Only the standard library is used, so the fixture has no dependency on the HTTP stack it tests.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import select
import socket
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "Cut",
    "Error",
    "FakeUpstream",
    "Hang",
    "Leak",
    "RecordedRequest",
    "Reply",
    "Scenario",
    "StreamError",
]

# Short sleeps so that waits notice a stopping server or a departed client quickly.
_POLL_INTERVAL = 0.05

_AZURE_CHAT_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions/?$")
_OPENAI_CHAT_PATHS = ("/v1/chat/completions", "/v1/chat/completions/")
_MODELS_PATHS = ("/v1/models", "/v1/models/")

# Azure attaches these annotations to prompts and to every content chunk.
_SAFE_FILTER_RESULTS = {
    name: {"filtered": False, "severity": "safe"}
    for name in ("hate", "self_harm", "sexual", "violence")
}


# --------------------------------------------------------------------------- scenarios


@dataclass
class Reply:
    """Answer with ``text``: a ``chat.completion`` object, or an SSE stream if asked to stream.

    ``delay`` is slept before each streamed piece (non-streaming replies ignore it; use ``Hang``
    to delay a whole response). ``stall`` seconds of silence come once, before the text piece
    numbered ``stall_after`` (0: after the headers and role chunk, before any text): a model
    that pauses. Both waits end early if the client leaves. ``usage`` overrides the computed
    token counts.

    Stream framing quirks (non-streaming replies ignore them):

    * ``last_event_without_blank_line``: ``data: [DONE]\n`` ends the body (no blank line).
    * ``final_chunk_without_blank_line``: the finish chunk (the one with ``finish_reason``) is
      the last event and is written as ``data: {...}\n``; no ``[DONE]`` follows, the body then
      ends cleanly. With ``include_usage`` the usage rides on that finish chunk (as some
      compatible servers send it), since nothing may follow it.
    * ``content_then_done_without_separator``: the usage chunk (or, without ``include_usage``,
      the finish chunk) is written as ``data: {...}\n`` and directly followed by
      ``data: [DONE]\n\n``, so the two lines form one SSE event.

    ``gzip`` sends the stream with ``Content-Encoding: gzip`` (when the request's
    ``Accept-Encoding`` allows it), each event flushed so that it can be decoded on arrival.
    """

    text: str
    chunk_size: int = 4
    delay: float = 0.0
    stall: float = 0.0
    stall_after: int = 0
    # Set by the test: the text piece numbered `stall_after` waits for it (a model that pauses
    # exactly as long as the test needs, e.g. while a page reloads).
    hold: threading.Event | None = field(default=None, compare=False, repr=False)
    usage: dict[str, Any] | None = None
    finish_reason: str = "stop"
    role_chunk: bool = True
    empty_choices_chunks: bool = False
    last_event_without_blank_line: bool = False
    final_chunk_without_blank_line: bool = False
    content_then_done_without_separator: bool = False
    gzip: bool = False

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        if self.final_chunk_without_blank_line and self.content_then_done_without_separator:
            raise ValueError(
                "final_chunk_without_blank_line and content_then_done_without_separator "
                "describe different endings; pick one"
            )


@dataclass
class Error:
    """Answer with HTTP ``status`` and an OpenAI-style ``{"error": {...}}`` JSON body."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    headers: dict[str, str] | None = None


@dataclass
class Cut:
    """Stream the role chunk and ``text`` in pieces, then drop the TCP connection abruptly.

    No finish chunk, no ``[DONE]`` and no terminating zero-length HTTP chunk are sent, so the
    client sees an incomplete chunked body. A non-streaming request gets a truncated JSON body
    (Content-Length promises more bytes than are sent).
    """

    text: str
    chunk_size: int = 4
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")


@dataclass
class Hang:
    """Send nothing for ``seconds``, then answer with the default echo reply.

    The wait ends early, without a reply, if the server stops or the client closes the
    connection (which also sets ``client_disconnected``, e.g. after a client-side timeout).
    """

    seconds: float


@dataclass
class StreamError:
    """Open a stream (HTTP 200), send ``text`` in pieces, then an SSE ``{"error": ...}`` event.

    The body then ends cleanly (``[DONE]`` and the last HTTP chunk), as OpenAI does when a
    stream fails server-side after it started. A non-streaming request gets HTTP 500.
    """

    message: str = "The server had an error while processing your request."
    text: str = ""
    chunk_size: int = 4
    type: str = "server_error"


@dataclass
class Leak:
    """A hostile upstream: quote the key it was sent, in every shape, where a client may pass
    it on (see ``leak_text``).

    ``where``: ``"error"`` answers HTTP ``status`` with an error body that quotes it in its
    message and in its other fields; ``"stream"`` opens a stream, sends ``text`` and then an
    SSE error event that quotes it (a non-streaming request gets the ``"error"`` answer);
    ``"reply"`` is a normal reply whose text quotes it, sent in one piece.
    """

    where: str = "error"
    status: int = 401
    text: str = "Partial "


Scenario = Reply | Error | Cut | Hang | StreamError | Leak

LEAK_USER = "leaky-user"


def leak_text(key: str) -> str:
    """The key in every shape an upstream or a proxy has been seen to quote it."""
    bare = re.sub(r"^(sk-(proj-)?|key-)", "", key)
    basic = base64.b64encode(f"{LEAK_USER}:{key}".encode()).decode()
    return (
        f"Incorrect API key provided: {key[:7]}{'*' * 20}{key[-4:]}. "
        f"Key: {key}; bare: {bare}; Authorization: Basic {basic}; "
        f"urlsafe: {base64.urlsafe_b64encode(key.encode()).decode()}; "
        f"starts {key[:12]}... ends ...{key[-10:]}; masked {key[:3]}...{key[-4:]}"
    )


@dataclass
class RecordedRequest:
    """One request as the fake received it.

    ``client_disconnected`` is set when the client went away while the fake was still answering
    (a write failed, or the peer closed the socket during a ``delay``/``Hang`` wait).
    ``finished`` is set once the whole response has been written normally.
    ``disconnected_at`` is the ``time.monotonic()`` at which the disconnect was noticed.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    deployment: str | None = None
    raw_body: bytes = b""
    client_address: tuple[str, int] = ("", 0)
    client_disconnected: threading.Event = field(default_factory=threading.Event, repr=False)
    finished: threading.Event = field(default_factory=threading.Event, repr=False)
    disconnected_at: float | None = None


# --------------------------------------------------------------------------- helpers


def _message_text(content: Any) -> str:
    """Text of a message ``content`` that is a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _messages(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("messages"), list):
        return [m for m in body["messages"] if isinstance(m, dict)]
    return []


def _echo_text(body: Any) -> str:
    user_messages = [m for m in _messages(body) if m.get("role") == "user"]
    last = _message_text(user_messages[-1].get("content")) if user_messages else ""
    return f"Echo: {last}"


def _usage(body: Any, text: str, override: dict[str, Any] | None) -> dict[str, Any]:
    if override is not None:
        return dict(override)
    prompt_chars = sum(len(_message_text(m.get("content"))) for m in _messages(body))
    prompt = max(1, prompt_chars // 4)
    completion = max(1, len(text) // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _mask_key(key: str) -> str:
    # Same shape as OpenAI's message; short keys are hidden entirely so that the whole key is
    # never echoed back.
    return f"{key[:3]}***{key[-4:]}" if len(key) > 7 else "***"


def _error_body(
    message: str, type_: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _dumps(obj: Any) -> bytes:
    # OpenAI sends non-ASCII text as raw UTF-8, so multi-byte characters reach the client's
    # decoder as they would in production.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeUpstream) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # stop() shuts sockets down under live handlers, so errors are expected then; any other
        # error is a bug in the fake and should stay visible.
        if self.fake._stopping.is_set():
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 gives keep-alive and lets us stream with chunked framing.
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "FakeUpstream/1.0"
    sys_version = ""
    # Compresses the current stream's events (Reply(gzip=True)); None sends them as they are.
    _compressor: Any = None

    # ---- plumbing

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            # The peer may already be gone; there is then nothing left to flush to.
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def handle(self) -> None:
        # A client may go away between requests; that is not an error.
        with contextlib.suppress(ConnectionError, TimeoutError):
            super().handle()

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ---- request handling

    def _read_body(self) -> bytes:
        # Always consume the body, even for requests we reject, so the next request on a
        # kept-alive connection starts at the right byte.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        fake = self.server.fake
        raw = self._read_body()
        split = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        try:
            body = json.loads(raw) if raw else None
            body_ok = raw != b""
        except ValueError:
            body, body_ok = None, False
        azure = _AZURE_CHAT_PATH.match(split.path)
        record = RecordedRequest(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            deployment=azure.group(1) if azure else None,
            raw_body=raw,
            client_address=tuple(self.client_address[:2]),
        )
        fake._record(record)
        self.record = record

        is_openai_chat = split.path in _OPENAI_CHAT_PATHS and self.command == "POST"
        is_azure_chat = azure is not None and self.command == "POST"
        is_models = split.path in _MODELS_PATHS and self.command == "GET"
        if not (is_openai_chat or is_azure_chat or is_models):
            msg = f"Invalid URL ({self.command} {split.path})"
            self._send_json(404, _error_body(msg))
            return
        if is_azure_chat and "api-version" not in record.query:
            # What Azure answers when the api-version query parameter is missing.
            self._send_json(404, _error_body("Resource not found", code="404"))
            return
        if not self._authorized(headers, azure=is_azure_chat):
            return
        if is_models:
            model = {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "fake"}
            self._send_json(200, {"object": "list", "data": [model]})
            return
        if not body_ok or not isinstance(body, dict):
            msg = "We could not parse the JSON body of your request."
            self._send_json(400, _error_body(msg))
            return

        scenario = fake._next_scenario(body)
        model = record.deployment if is_azure_chat else str(body.get("model", ""))
        stream = body.get("stream") is True
        if isinstance(scenario, Error):
            self._send_json(
                scenario.status,
                _error_body(scenario.message, scenario.type, scenario.code),
                scenario.headers,
            )
        elif isinstance(scenario, Cut):
            self._cut(scenario, body, model, stream)
        elif isinstance(scenario, Hang):
            if self._wait(scenario.seconds):
                self._reply(Reply(_echo_text(body)), body, model, stream)
        elif isinstance(scenario, StreamError):
            self._stream_error(scenario, model, stream)
        elif isinstance(scenario, Leak):
            self._leak(scenario, body, model, stream, self._given_key(headers))
        else:
            self._reply(scenario, body, model, stream)

    @staticmethod
    def _given_key(headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        return headers.get("api-key") or bearer

    def _leak(self, leak: Leak, body: dict[str, Any], model: str, stream: bool, key: str) -> None:
        text = leak_text(key)
        if leak.where == "reply":
            self._reply(Reply(f"{leak.text}{text}", chunk_size=100_000), body, model, stream)
            return
        if leak.where == "error" or not stream:
            error = _error_body(text, "invalid_request_error", "invalid_api_key")
            error["error"].update(param=key, key=key, debug={"headers": {"api-key": key}})
            self._send_json(leak.status, error)
            return
        self._stream_error(StreamError(message=text, text=leak.text), model, stream)

    def _authorized(self, headers: dict[str, str], *, azure: bool) -> bool:
        expected = self.server.fake.api_key
        if expected is None:
            return True
        if azure:
            given = headers.get("api-key")
        else:
            auth = headers.get("authorization", "")
            given = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if given == expected:
            return True
        if not given:
            msg = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            self._send_json(401, _error_body(msg))
        else:
            msg = (
                f"Incorrect API key provided: {_mask_key(given)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            self._send_json(401, _error_body(msg, code="invalid_api_key"))
        return False

    # ---- writing

    def _client_gone(self) -> None:
        if self.record.disconnected_at is None:
            self.record.disconnected_at = time.monotonic()
        self.record.client_disconnected.set()
        self.close_connection = True

    def _write(self, data: bytes) -> bool:
        """Write and flush; on a broken connection note the disconnect and return False."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._client_gone()
            return False
        return True

    def _send_head(self, status: int, content_type: str, extra: dict[str, str] | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("x-request-id", f"req_fake{uuid.uuid4().hex[:16]}")
        for name, value in (extra or {}).items():
            self.send_header(name, value)

    def _send_json(
        self, status: int, obj: Any, extra_headers: dict[str, str] | None = None
    ) -> None:
        payload = _dumps(obj)
        self._send_head(status, "application/json", extra_headers)
        # Content-Length keeps the connection reusable for the SDK's next request.
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._client_gone()
            return
        if self._write(payload):
            self.record.finished.set()

    def _start_stream(self, *, gzip: bool = False) -> bool:
        accepted = self.record.headers.get("accept-encoding", "")
        gzip = gzip and "gzip" in [enc.split(";")[0].strip() for enc in accepted.split(",")]
        self._compressor = zlib.compressobj(wbits=31) if gzip else None
        self._send_head(200, "text/event-stream; charset=utf-8", None)
        self.send_header("Cache-Control", "no-cache")
        if gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Transfer-Encoding", "chunked")
        try:
            self.end_headers()  # flushes the status line and headers right away
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._client_gone()
            return False
        return True

    def _send_event(self, data: bytes, *, blank_line: bool = True, last: bool = False) -> bool:
        """Send one SSE event as one HTTP chunk; ``last`` appends the zero-length chunk."""
        event = b"data: " + data + (b"\n\n" if blank_line else b"\n")
        if self._compressor is not None:
            # A sync flush per event: the client can decode each event as soon as it arrives.
            event = self._compressor.compress(event) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
            if last:
                event += self._compressor.flush(zlib.Z_FINISH)
        frame = b"%X\r\n%s\r\n" % (len(event), event)
        if last:
            # Same write as the final event: a client that closes right after [DONE] must not
            # turn the end of a complete response into a "disconnect".
            frame += b"0\r\n\r\n"
        return self._write(frame)

    def _held(self, gate: threading.Event, at_most: float = 60.0) -> bool:
        """Wait until the test sets `gate`; False if the server stops or the client leaves."""
        deadline = time.monotonic() + at_most
        while not gate.is_set():
            if time.monotonic() >= deadline or not self._wait(_POLL_INTERVAL):
                return False
        return True

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the server stops or the client leaves first."""
        deadline = time.monotonic() + seconds
        fake = self.server.fake
        while True:
            if fake._stopping.is_set():
                self.close_connection = True
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            step = min(_POLL_INTERVAL, remaining)
            # A readable socket with nothing to read means the peer closed: notice it now
            # rather than at the next write, which may be seconds away.
            try:
                readable, _, _ = select.select([self.connection], [], [], step)
                if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                    self._client_gone()
                    return False
            except (OSError, ValueError):
                self._client_gone()
                return False
            if readable:
                time.sleep(step)  # pipelined bytes, not EOF: avoid a busy loop

    def _chunk(
        self, ident: str, created: int, model: str, choices: list[Any], **extra: Any
    ) -> bytes:
        obj: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        obj.update(extra)
        return _dumps(obj)

    def _reply(self, reply: Reply, body: dict[str, Any], model: str, stream: bool) -> None:
        ident = f"chatcmpl-fake{uuid.uuid4().hex[:20]}"
        created = int(time.time())
        usage = _usage(body, reply.text, reply.usage)
        if not stream:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text, "refusal": None},
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
            obj: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [choice],
                "usage": usage,
            }
            if reply.empty_choices_chunks:
                choice["content_filter_results"] = _SAFE_FILTER_RESULTS
                obj["prompt_filter_results"] = [
                    {"prompt_index": 0, "content_filter_results": _SAFE_FILTER_RESULTS}
                ]
            self._send_json(200, obj)
            return

        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        # OpenAI sends "usage": null on every chunk but the last when usage is requested.
        extra: dict[str, Any] = {"usage": None} if include_usage else {}
        filt = (
            {"content_filter_results": _SAFE_FILTER_RESULTS} if reply.empty_choices_chunks else {}
        )

        def chunk(choices: list[Any], **more: Any) -> bytes:
            return self._chunk(ident, created, model, choices, **{**extra, **more})

        if not self._start_stream(gzip=reply.gzip):
            return
        if reply.empty_choices_chunks:
            results = [{"prompt_index": 0, "content_filter_results": _SAFE_FILTER_RESULTS}]
            if not self._send_event(chunk([], prompt_filter_results=results)):
                return
        if reply.role_chunk:
            delta = {"role": "assistant", "content": ""}
            first = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            if not self._send_event(chunk([first])):
                return
        for index, piece in enumerate(_pieces(reply.text, reply.chunk_size)):
            if reply.delay and not self._wait(reply.delay):
                return
            if reply.stall and index == reply.stall_after and not self._wait(reply.stall):
                return
            if reply.hold and index == reply.stall_after and not self._held(reply.hold):
                return
            content = {"index": 0, "delta": {"content": piece}, "logprobs": None}
            if not self._send_event(chunk([{**content, "finish_reason": None, **filt}])):
                return
        end = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": reply.finish_reason}
        if reply.final_chunk_without_blank_line:
            # The finish chunk is the last event, unterminated, and no [DONE] follows.
            final = chunk([end], usage=usage) if include_usage else chunk([end])
            if self._send_event(final, blank_line=False, last=True):
                self.record.finished.set()
            return
        # With content_then_done_without_separator the event right before [DONE] lacks its
        # blank line, so its data line and [DONE]'s form a single SSE event.
        merge = reply.content_then_done_without_separator
        if not self._send_event(chunk([end]), blank_line=not (merge and not include_usage)):
            return
        if include_usage and not self._send_event(chunk([], usage=usage), blank_line=not merge):
            return
        done_blank = not reply.last_event_without_blank_line
        if self._send_event(b"[DONE]", blank_line=done_blank, last=True):
            self.record.finished.set()

    def _cut(self, cut: Cut, body: dict[str, Any], model: str, stream: bool) -> None:
        # Whatever happens below, this connection must never carry another byte.
        self.close_connection = True
        if not stream:
            ident = f"chatcmpl-fake{uuid.uuid4().hex[:20]}"
            payload = _dumps(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": cut.text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _usage(body, cut.text, None),
                }
            )
            self._send_head(200, "application/json", None)
            self.send_header("Content-Length", str(len(payload)))
            try:
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self._client_gone()
                return
            if self._write(payload[: len(payload) // 2]):
                self._drop_connection()
            return

        ident = f"chatcmpl-fake{uuid.uuid4().hex[:20]}"
        created = int(time.time())
        if not self._start_stream():
            return
        delta = {"role": "assistant", "content": ""}
        first = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        if not self._send_event(self._chunk(ident, created, model, [first])):
            return
        for piece in _pieces(cut.text, cut.chunk_size):
            if cut.delay and not self._wait(cut.delay):
                return
            choice = {"index": 0, "delta": {"content": piece}, "logprobs": None}
            data = self._chunk(ident, created, model, [{**choice, "finish_reason": None}])
            if not self._send_event(data):
                return
        self._drop_connection()

    def _stream_error(self, failure: StreamError, model: str, stream: bool) -> None:
        if not stream:
            self._send_json(500, _error_body(failure.message, failure.type))
            return
        ident = f"chatcmpl-fake{uuid.uuid4().hex[:20]}"
        created = int(time.time())
        if not self._start_stream():
            return
        delta = {"role": "assistant", "content": ""}
        first = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        if not self._send_event(self._chunk(ident, created, model, [first])):
            return
        for piece in _pieces(failure.text, failure.chunk_size):
            choice = {"index": 0, "delta": {"content": piece}, "logprobs": None}
            data = self._chunk(ident, created, model, [{**choice, "finish_reason": None}])
            if not self._send_event(data):
                return
        if not self._send_event(_dumps(_error_body(failure.message, failure.type))):
            return
        if self._send_event(b"[DONE]", last=True):
            self.record.finished.set()

    def _drop_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # already gone
            self.connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------- public API


class FakeUpstream:
    """A scriptable fake of the OpenAI / Azure OpenAI Chat Completions HTTP API.

    ``api_key`` is the key clients must send (``Authorization: Bearer`` on OpenAI routes,
    ``api-key`` on Azure routes); ``None`` accepts any key or none.
    """

    def __init__(self, api_key: str | None = "test-key") -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[Scenario] = deque()
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeUpstream already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name=f"FakeUpstream:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and free the port."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        # Idle keep-alive connections would otherwise leave handler threads blocked in a read.
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- addresses

    @property
    def port(self) -> int:
        """The TCP port the fake listens on."""
        if self._server is None:
            raise RuntimeError("FakeUpstream not started")
        return int(self._server.server_address[1])

    @property
    def azure_endpoint(self) -> str:
        """``http://127.0.0.1:PORT``, for ``AzureOpenAI(azure_endpoint=...)``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, for ``OpenAI(base_url=...)``."""
        return f"{self.azure_endpoint}/v1"

    # ---- programming and inspecting

    def script(self, *scenarios: Scenario) -> None:
        """Queue scenarios; each chat request consumes the oldest (echo reply when empty)."""
        for scenario in scenarios:
            if not isinstance(scenario, (Reply, Error, Cut, Hang, StreamError, Leak)):
                raise TypeError(f"not a scenario: {scenario!r}")
        with self._lock:
            self._queue.extend(scenarios)

    def reset(self) -> None:
        """Forget queued scenarios and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    @property
    def pending(self) -> int:
        """How many scripted scenarios have not been consumed yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests are recorded; AssertionError on timeout."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= n, timeout):
                seen = [f"{r.method} {r.path}" for r in self._requests]
                raise AssertionError(
                    f"expected >= {n} requests within {timeout}s, got {len(seen)}: {seen}"
                )
            return list(self._requests)

    # ---- used by the handler threads

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def _next_scenario(self, body: Any) -> Scenario:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return Reply(_echo_text(body))

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
