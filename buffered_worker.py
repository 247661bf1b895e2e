"""gunicorn's gthread worker, with each request read whole before a thread takes it.

Why: gthread hands a connection to its thread pool as soon as the socket is readable, and the
thread then blocks reading headers and body. 64-200 connections that send headers and trickle
(or never send) the body held every thread, and /healthz timed out. Reading with a socket
timeout in WSGI middleware still holds a thread per slow client for that timeout; raising
`threads` only moves the number an attacker needs. Here the worker's event loop (the one that
already accepts connections and waits on kept-alive ones, without threads) reads the request
line, headers and a Content-Length body into memory, non-blocking, and only a complete request
goes to a thread. A request not complete within REQUEST_READ_TIMEOUT seconds gets 408; a body
over MAX_REQUEST_BYTES gets 413 without being read; a chunked body gets 411 (browsers, curl
and the SDKs send Content-Length). An attachment's upload has its own size limit and more
time, in proportion to its size (see UPLOAD_PATH). nginx's request buffering does the same in front.

TLS or HTTP/2 straight to gunicorn are left to gthread as is (the bytes are not plain
HTTP/1.1 there); this app's deployments terminate TLS in a proxy.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import time
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

HEAD_END = b"\r\n\r\n"
# gunicorn's own limits are 4094 bytes of request line and 100 fields of 8190 bytes; a
# header block this long is refused rather than buffered.
MAX_HEAD_BYTES = 64 * 1024
RECV_BYTES = 256 * 1024
# All unfinished requests of one worker together: past this, the request that would grow the
# total is refused (503), so many large bodies sent slowly cannot use up the memory.
MAX_BUFFERED_BYTES = 64 * 1024 * 1024


def _env_number(name: str, default: float, kind=float):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SystemExit(f"Configuration error: {name}={raw!r} must be a positive number")
    return value


def read_timeout() -> float:
    """Seconds a client has to send a whole request (line, headers, body)."""
    return _env_number("REQUEST_READ_TIMEOUT", 10.0)


def max_request_bytes() -> int:
    """The largest request body accepted, in bytes."""
    return _env_number("MAX_REQUEST_BYTES", 4_000_000, int)


# An attachment's upload (POST /api/attachments, api/attachments.py) may be MAX_ATTACHMENT_MB
# large, whatever MAX_REQUEST_BYTES says, plus what multipart wraps around the file; and it
# gets this many seconds per MB on top of REQUEST_READ_TIMEOUT to arrive (100 KB/s: a phone
# on a weak network), so a 20 MB photo is not cut off at 10 s while a trickle still is.
UPLOAD_PATH = b"/api/attachments"
UPLOAD_OVERHEAD = 64 * 1024
UPLOAD_SECONDS_PER_MB = 10.0


def max_upload_bytes() -> int:
    """The largest attachment upload's body, in bytes (0 with MAX_ATTACHMENTS=0)."""
    raw = os.environ.get("MAX_ATTACHMENTS", "").strip()
    if raw.isdigit() and int(raw) == 0:
        return 0
    return int(_env_number("MAX_ATTACHMENT_MB", 20.0) * 1024 * 1024) + UPLOAD_OVERHEAD


def _is_upload(request_line: bytes) -> bool:
    method, _, rest = request_line.partition(b" ")
    target = rest.partition(b" ")[0].partition(b"?")[0]
    return method == b"POST" and target == UPLOAD_PATH


def _refusal(status: str, kind: str, message: str) -> bytes:
    """A complete HTTP response in the API's error shape, closing the connection."""
    body = json.dumps({"error": {"message": message, "type": kind}}).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class Incomplete:
    """What has arrived of one request, and what it still needs."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.data = bytearray()
        self.continued = False  # a 100 Continue has been sent
        self.sized = False  # its deadline has been set from its length (an upload's grows)

    def head(self) -> tuple[int, list[bytes]] | None:
        """(end of the header block, its lines) once the block is complete."""
        end = self.data.find(HEAD_END)
        if end < 0:
            return None
        return end + len(HEAD_END), bytes(self.data[:end]).split(b"\r\n")


def _fields(lines: list[bytes]) -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    return fields


class BufferingThreadWorker(ThreadWorker):
    """ThreadWorker whose threads only ever see complete requests (see the module doc)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout()
        self.max_body = max_request_bytes()
        self.max_upload = max_upload_bytes()
        # At least one upload of the largest size fits, however large MAX_ATTACHMENT_MB is.
        self.max_buffered = max(MAX_BUFFERED_BYTES, self.max_upload + self.max_body)
        # h2c needs gthread's own preface sniffing; TLS bytes are not HTTP/1.1 text.
        h2c = getattr(self.cfg, "http2_cleartext", None) not in (None, "off", "")
        self.buffering = not (self.cfg.is_ssl or h2c)
        self.arriving: dict = {}  # conn -> Incomplete
        self.buffered = 0  # bytes held for unfinished requests

    # Where gthread would hand a fresh or kept-alive connection to a thread, buffer first.
    def accept(self, listener):
        if not self.buffering:
            return super().accept(listener)
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        self._start(conn, b"")

    def on_client_socket_readable(self, conn, client):
        if not self.buffering:
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start(conn, b"")
        return None

    def finish_request(self, conn, fs):
        # A pipelined next request already read into the parser is buffered too, else its
        # body would again be read by a thread.
        if self.buffering and not fs.cancelled() and fs.exception() is None and fs.result() is True:
            parser = conn.parser
            pending = parser.unreader.take_buffered() if parser is not None else b""
            if pending and self.alive:
                self._start(conn, pending)
                return
            if pending:
                parser.unreader.unread(pending)
        super().finish_request(conn, fs)

    def _start(self, conn, data: bytes) -> None:
        conn.sock.setblocking(False)
        self.arriving[conn] = Incomplete(time.monotonic() + self.read_timeout)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if data:
            self._arrived(conn, data)

    def _on_readable(self, conn, _sock) -> None:
        chunks = []
        while True:
            try:
                chunk = conn.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(conn)
                return
            if not chunk:  # the client went away before its request was complete
                self._drop(conn)
                return
            chunks.append(chunk)
            if len(chunk) < RECV_BYTES:
                break
        self._arrived(conn, b"".join(chunks))

    def _arrived(self, conn, data: bytes) -> None:
        incoming = self.arriving[conn]
        if self.buffered + len(data) > self.max_buffered:
            self._refuse(conn, "503 Service Unavailable", "busy", "The server is busy; retry.")
            return
        incoming.data += data
        self.buffered += len(data)
        head = incoming.head()
        if head is None:
            if len(incoming.data) > MAX_HEAD_BYTES:
                self._refuse(
                    conn,
                    "431 Request Header Fields Too Large",
                    "headers_too_large",
                    "Headers too large.",
                )
            return
        end, lines = head
        fields = _fields(lines)
        if b"transfer-encoding" in fields:
            self._refuse(
                conn,
                "411 Length Required",
                "length_required",
                "Send the body with a Content-Length.",
            )
            return
        try:
            length = int(fields.get(b"content-length", b"0"))
        except ValueError:
            length = -1
        if length < 0:
            self._refuse(conn, "400 Bad Request", "invalid_request", "Invalid Content-Length.")
            return
        upload = self.max_upload > 0 and _is_upload(lines[0])
        limit = max(self.max_body, self.max_upload) if upload else self.max_body
        if length > limit:
            self._refuse(
                conn,
                "413 Content Too Large",
                "too_large" if upload else "request_too_large",
                f"The request body is over {limit} bytes.",
            )
            return
        if upload and not incoming.sized:
            incoming.sized = True
            incoming.deadline += length / (1024 * 1024) * UPLOAD_SECONDS_PER_MB
        if len(incoming.data) - end >= length:
            self._complete(conn, incoming)
            return
        if fields.get(b"expect", b"").lower() == b"100-continue" and not incoming.continued:
            # The client waits for this before sending the body; gunicorn would only send it
            # from a thread, so it is sent here and the header dropped from what gunicorn sees.
            incoming.continued = True
            kept = [line for line in lines if not line.lower().startswith(b"expect:")]
            before = len(incoming.data)
            incoming.data[:end] = b"\r\n".join(kept) + HEAD_END
            self.buffered += len(incoming.data) - before
            self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")

    def _complete(self, conn, incoming: Incomplete) -> None:
        del self.arriving[conn]
        self.buffered -= len(incoming.data)
        self.poller.unregister(conn.sock)
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(bytes(incoming.data))
        conn.data_ready = True  # gthread's wait for a first byte is over
        self.enqueue_req(conn)

    def _send(self, conn, data: bytes) -> None:
        # Best effort: the socket is non-blocking and the client may be gone.
        with contextlib.suppress(OSError):
            conn.sock.send(data)

    def _refuse(self, conn, status: str, kind: str, message: str) -> None:
        # The peer is (host, port) on TCP and a plain string on a UNIX socket.
        peer = conn.client[0] if isinstance(conn.client, tuple) else conn.client
        self.log.info("refused a request from %s: %s", peer, status)
        self._send(conn, _refusal(status, kind, message))
        self._drop(conn)

    def _drop(self, conn) -> None:
        incoming = self.arriving.pop(conn, None)
        if incoming is not None:
            self.buffered -= len(incoming.data)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        """Also answer 408 to requests not complete by their deadline."""
        super().murder_pending()
        now = time.monotonic()
        late = [conn for conn, incoming in self.arriving.items() if incoming.deadline <= now]
        for conn in late:
            # Nothing at all arrived (a preconnect, an idle kept-alive socket): just close.
            if self.arriving[conn].data:
                self._refuse(
                    conn,
                    "408 Request Timeout",
                    "request_timeout",
                    "The request was not sent in time.",
                )
            else:
                self._drop(conn)
