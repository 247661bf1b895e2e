"""Load: N concurrent clients streaming through POST /api/chat/stream, against the upstream alone.

    python bench/load.py [--clients 50,200] [--rounds 3] [--tokens 50] [--delay-ms 10]

Starts the fake upstream (its own process) and `gunicorn chat_app:server` with the shipped
gunicorn.conf.py on 127.0.0.1. For each N, in each round: N threads, each with its own new
connection, released together by a barrier, each streaming one reply and reading it to its
final event. The same burst goes straight to the fake upstream twice: through the openai SDK
(one client per thread) and through the same raw-HTTP reader the app burst uses. Prints
successes, errors, p50/p95 time to the first text and to the end, aggregate tokens/s and the
app/upstream ratio of p95 time to first token; then, for the raw-HTTP streams (the app's and
the upstream's), time to the first body byte next to time to the first text, and the bytes of
one reply on the wire (the response body with its chunked framing, and in all with the status
line and headers). Numbers only, no pass/fail.

    python bench/load.py --nginx [--clients 50] [--rounds 3] [--database-url URL]

runs the same bursts through nginx (the shipped rules, tests/nginx_cluster.py) in front of two
instances of one worker each, beside one instance with the shipped two workers, straight: the
same figures for both, side by side.

    python bench/load.py --page-reply [--page-reply-tokens 1600] [--delay-ms 10]

measures instead one long reply (1,600 tokens of 5 characters: 8,000 characters) through the
stream route in the page's form (`turn`, api/schemas.py PageTurn), without and with snapshots,
and in the `messages` form: bytes on the wire against the reply's UTF-8 size.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import _common as common
import openai

# Targets of issue #7, printed next to the figures.
TARGET_ERRORS = "200 streams: 0 errors"
TARGET_RATIO = 2.0  # at 50 streams: app p95 TTFT <= 2x upstream p95 TTFT


NAN = float("nan")


@dataclass
class Result:
    ok: bool
    error: str = ""
    ttft: float = NAN
    total: float = NAN
    tokens: int = 0
    end: float = 0.0  # perf_counter() when the stream ended
    ttfb: float = NAN  # the response's first body byte (raw-HTTP readers only)
    head_bytes: int = 0  # status line and headers, as received
    body_wire: int = 0  # the body as received: chunked framing included
    body_bytes: int = 0  # the body after de-chunking
    events: int = 0  # SSE data events (the app's: deltas, snapshots and the final one)


class _CountingReader(io.RawIOBase):
    """A socket as http.client reads it, counting every byte received."""

    KEEP = 65_536  # enough of the start of the response to find the end of its headers

    def __init__(self, sock) -> None:
        self.sock = sock
        self.received = 0
        self.start = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.sock.recv_into(buffer)
        if len(self.start) < self.KEEP:
            self.start += bytes(memoryview(buffer)[:count])
        self.received += count
        return count

    @property
    def head(self) -> int:
        """The status line and headers, blank line included (0 if not all received)."""
        end = self.start.find(b"\r\n\r\n")
        return end + 4 if end >= 0 else 0


class _CountedSocket:
    """The connection's socket, except that the response reads it through the counter."""

    def __init__(self, sock, counter: _CountingReader) -> None:
        self._sock = sock
        self._counter = counter

    def makefile(self, *_args, **_kwargs):
        return io.BufferedReader(self._counter)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class CountingConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection that counts the bytes of its responses as they came."""

    counter: _CountingReader | None = None

    def connect(self) -> None:
        super().connect()
        self.counter = _CountingReader(self.sock)
        self.sock = _CountedSocket(self.sock, self.counter)


def _post(port: int, path: str, body: dict, headers: dict[str, str]) -> tuple:
    conn = CountingConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
    return conn, conn.getresponse()


class _Body:
    """A response body read as it arrives: its lines, and when its first byte came."""

    def __init__(self, response, start: float) -> None:
        self.response = response
        self.start = start
        self.ttfb: float | None = None
        self.decoded = 0
        self._buffer = b""

    def lines(self) -> Iterator[bytes]:
        while True:
            data = self.response.read1(65_536)
            if not data:
                if self._buffer:
                    yield self._buffer
                return
            if self.ttfb is None:
                self.ttfb = time.perf_counter() - self.start
            self.decoded += len(data)
            *lines, self._buffer = (self._buffer + data).split(b"\n")
            for line in lines:
                yield line + b"\n"

    def drain(self) -> None:
        """Read what is left (the final chunk's framing), so that every byte is counted."""
        for _ in self.lines():
            pass


def _measured(result: Result, conn: CountingConnection | None, body: _Body | None) -> Result:
    """`result` with the byte counts and the first byte's time of its response."""
    if body is not None:
        result.ttfb = body.ttfb if body.ttfb is not None else NAN
        result.body_bytes = body.decoded
    if conn is not None and conn.counter is not None:
        result.head_bytes = conn.counter.head
        result.body_wire = conn.counter.received - conn.counter.head
    return result


def app_stream(port: int, request: dict, expected: str) -> Result:
    """One stream through the app's /api/chat/stream, read to its final event and its end."""
    start = time.perf_counter()
    first = None
    text: list[str] = []
    conn = body = None
    events = 0
    try:
        conn, response = _post(port, "/api/chat/stream", request, {})
        if response.status != 200:
            return Result(False, f"HTTP {response.status}", end=time.perf_counter())
        body = _Body(response, start)
        for line in body.lines():
            if not line.startswith(b"data:"):
                continue
            events += 1
            event = json.loads(line[5:])
            if "delta" in event and not event.get("done"):
                if first is None:
                    first = time.perf_counter() - start
                text.append(event["delta"])
            elif event.get("done"):
                ok = "".join(text) == expected
                result = _end(ok, "" if ok else "incomplete text", start, first, text)
                body.drain()
                break
            elif "error" in event:
                kind = (event["error"] or {}).get("type", "?")
                result = _end(False, f"error event: {kind}", start, first, text)
                break
        else:
            result = _end(False, "no final event", start, first, text)
        result.events = events
        return _measured(result, conn, body)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return _measured(_end(False, type(exc).__name__, start, first, text), conn, body)
    finally:
        if conn is not None:
            conn.close()


def through_app(port: int, expected: str) -> Callable[[], Result]:
    """One stream through the app's /api/chat/stream (plain deltas, no snapshots)."""
    request = {"messages": [{"role": "user", "content": "hi"}], "snapshots": False}
    return lambda: app_stream(port, request, expected)


def through_app_recorded(port: int, expected: str) -> Callable[[], Result]:
    """One stream in the page's form (`turn`): a new conversation, the question and the reply
    recorded (the reply in batches while it streams, issue 14)."""
    request = {
        "turn": {"question": "hi", "history": [], "history_start": 0, "multi_turn": True},
        "conversation_id": None,
        "lang": "en",
    }
    return lambda: app_stream(port, request, expected)


def raw_upstream(port: int, expected: str) -> Callable[[], Result]:
    """One stream straight from the fake, read with the same raw-HTTP loop as the app's."""
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    auth = {"Authorization": f"Bearer {common.BENCH_KEY}"}

    def run() -> Result:
        start = time.perf_counter()
        first = None
        text: list[str] = []
        conn = stream = None
        events = 0
        try:
            conn, response = _post(port, "/v1/chat/completions", body, auth)
            if response.status != 200:
                return Result(False, f"HTTP {response.status}", end=time.perf_counter())
            stream = _Body(response, start)
            for line in stream.lines():
                if not line.startswith(b"data:"):
                    continue
                events += 1
                data = line[5:].strip()
                if data == b"[DONE]":
                    ok = "".join(text) == expected
                    result = _end(ok, "" if ok else "incomplete text", start, first, text)
                    stream.drain()
                    break
                chunk = json.loads(data)
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        if first is None:
                            first = time.perf_counter() - start
                        text.append(piece)
            else:
                result = _end(False, "no [DONE]", start, first, text)
            result.events = events
            return _measured(result, conn, stream)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return _measured(_end(False, type(exc).__name__, start, first, text), conn, stream)
        finally:
            if conn is not None:
                conn.close()

    return run


def sdk_upstream(base_url: str, expected: str) -> Callable[[], Callable[[], Result]]:
    """A factory: each thread gets its own openai client (own connection pool)."""

    def prepare() -> Callable[[], Result]:
        client = openai.OpenAI(
            base_url=base_url, api_key=common.BENCH_KEY, max_retries=0, timeout=60
        )

        def run() -> Result:
            start = time.perf_counter()
            first = None
            text: list[str] = []
            try:
                stream = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                )
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        if first is None:
                            first = time.perf_counter() - start
                        text.append(chunk.choices[0].delta.content)
            except Exception as exc:  # any failure is one error of this stream
                return _end(False, type(exc).__name__, start, first, text)
            finally:
                client.close()
            ok = "".join(text) == expected
            return _end(ok, "" if ok else "incomplete text", start, first, text)

        return run

    return prepare


def _end(ok: bool, error: str, start: float, first: float | None, text: list[str]) -> Result:
    now = time.perf_counter()
    return Result(
        ok=ok,
        error=error,
        ttft=first if first is not None else float("nan"),
        total=now - start,
        tokens=len("".join(text)) // common.TOKEN_CHARS,
        end=now,
    )


@dataclass
class Burst:
    results: list[Result]
    wall: float
    cpu: float  # this process's CPU seconds during the burst (the clients' own load)


def burst(count: int, prepare: Callable[[], Callable[[], Result]], timeout: float) -> Burst:
    """`count` threads, each prepared first, then released at once by a barrier."""
    barrier = threading.Barrier(count + 1)
    results: list[Result | None] = [None] * count

    def worker(index: int) -> None:
        try:
            run = prepare()
        except Exception as exc:
            barrier.abort()
            results[index] = Result(False, f"prepare: {type(exc).__name__}")
            return
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            results[index] = results[index] or Result(False, "barrier broken")
            return
        results[index] = run()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    released = time.perf_counter()
    cpu0 = time.process_time()
    deadline = released + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.perf_counter()))
    cpu = time.process_time() - cpu0
    done = [r if r is not None else Result(False, "unfinished in time") for r in results]
    ends = [r.end for r in done if r.end]
    wall = (max(ends) if ends else time.perf_counter()) - released
    return Burst(done, wall, cpu)


def summarize(name: str, bursts: list[Burst]) -> tuple[list[object], float]:
    """One table row for `bursts` (pooled), and the pooled p95 TTFT."""
    results = [r for b in bursts for r in b.results]
    good = [r for r in results if r.ok]
    ttft = [r.ttft for r in good if r.ttft == r.ttft]
    total = [r.total for r in good]
    rates = [sum(r.tokens for r in b.results if r.ok) / b.wall for b in bursts if b.wall > 0]
    cpu = [b.cpu / b.wall for b in bursts if b.wall > 0]
    p95 = common.percentile(ttft, 95)
    row = [
        name,
        len(good),
        len(results) - len(good),
        common.ms(common.percentile(ttft, 50)),
        common.ms(p95),
        common.ms(common.percentile(total, 50)),
        common.ms(common.percentile(total, 95)),
        f"{sum(rates) / len(rates):.0f}" if rates else "-",
        f"{sum(b.wall for b in bursts) / len(bursts):.2f}",
        f"{100 * sum(cpu) / len(cpu):.0f}%" if cpu else "-",
    ]
    return row, p95


def error_kinds(bursts: list[Burst]) -> str:
    kinds = Counter(r.error for b in bursts for r in b.results if not r.ok)
    return ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common(5))


def _median_int(values: list[int]) -> str:
    return f"{common.median(values):,.0f}" if values else "-"


def bytes_row(name: str, results: list[Result]) -> list[object]:
    """First byte against first text, and the bytes of one reply (medians over successes)."""
    good = [r for r in results if r.ok]
    ttfb = [r.ttfb for r in good if r.ttfb == r.ttfb]
    ttft = [r.ttft for r in good if r.ttft == r.ttft]
    return [
        name,
        common.ms(common.percentile(ttfb, 50)),
        common.ms(common.percentile(ttfb, 95)),
        common.ms(common.percentile(ttft, 50)),
        common.ms(common.percentile(ttft, 95)),
        _median_int([r.events for r in good]),
        _median_int([r.head_bytes for r in good]),
        _median_int([r.body_wire for r in good]),
        _median_int([r.body_bytes for r in good]),
        _median_int([r.head_bytes + r.body_wire for r in good]),
    ]


BYTES_HEADERS = [
    "path",
    "TTFB p50 ms",
    "TTFB p95 ms",
    "TTFT p50 ms",
    "TTFT p95 ms",
    "events",
    "head B",
    "body B",
    "decoded B",
    "total B",
]


def page_reply(args: argparse.Namespace) -> None:
    """The wire bytes of one long reply through the stream route, in each request form."""
    tokens = args.page_reply_tokens
    expected = common.reply_text(tokens)
    utf8 = len(expected.encode("utf-8"))
    # The page's form of a request (api/schemas.py PageTurn), as the brief of issue #13 gives it.
    page_form = {
        "turn": {"question": "hi", "history": [], "history_start": 0, "multi_turn": True},
        "conversation_id": None,
        "lang": "en",
    }
    forms = [
        ("page form (turn), plain deltas", page_form),
        ("page form (turn), snapshots: true", {**page_form, "snapshots": True}),
        ("messages form, plain deltas", {"messages": [{"role": "user", "content": "hi"}]}),
    ]
    with common.upstream(tokens, args.delay_ms) as up, common.app(up, records=True) as app:
        common.header(
            "load --page-reply: one long reply through POST /api/chat/stream, bytes on the wire",
            args,
            [
                up.describe(),
                common.describe_app(app, records=True),
                f"reply: {len(expected):,} characters, {utf8:,} bytes in UTF-8; one request per "
                "form, one after another, each on a new connection, read to the end of the body "
                "(after one warm-up stream, left at its first text)",
                "bytes: head = status line and headers; body = as received, chunked framing "
                "included; decoded = after de-chunking; total = head + body",
            ],
        )
        # Not counted: the first stream of a fresh server (imports, the records' first write),
        # left after its first text.
        conn, response = _post(app.port, "/api/chat/stream", page_form, {})
        for line in _Body(response, time.perf_counter()).lines():
            if line.startswith(b"data:") and b'"delta"' in line:
                break
        conn.close()
        rows = []
        for name, request in forms:
            result = app_stream(app.port, request, expected)
            rows.append(
                [
                    *bytes_row(name, [result])[:1],
                    "ok" if result.ok else result.error,
                    common.ms(result.ttfb),
                    common.ms(result.ttft),
                    f"{result.total:.2f}",
                    result.events,
                    f"{result.head_bytes:,}",
                    f"{result.body_wire:,}",
                    f"{result.body_bytes:,}",
                    f"{result.head_bytes + result.body_wire:,}",
                    f"{result.body_wire / utf8:.2f}",
                ]
            )
    common.table(
        [
            "request form",
            "result",
            "TTFB ms",
            "TTFT ms",
            "total s",
            "events",
            "head B",
            "body B",
            "decoded B",
            "total B",
            "body / UTF-8",
        ],
        rows,
    )
    print(
        f"body / UTF-8 = response body bytes on the wire / the reply's UTF-8 size ({utf8:,} B); "
        "the page sends its form with plain deltas; snapshots are for clients that keep only "
        "the newest event"
    )


APP_PATH = "app /api/chat/stream"
DIRECT_PATH = "one instance /api/chat/stream"
NGINX_PATH = "nginx, 2 instances /api/chat/stream"
NOTES = (
    "tokens/s: successful streams' tokens / wall time of the burst, mean over rounds; "
    "client CPU: this process's CPU time / wall (100% = one core)\n"
    "TTFB: the response's first body byte; events: SSE data lines; head B: status line "
    "and headers; body B: the body as received (chunked framing included); decoded B: "
    "after de-chunking; total B: head + body"
)


def behind_nginx(args: argparse.Namespace, clients: list[int], expected: str) -> None:
    """`--nginx`: one instance with the shipped workers, straight; and nginx with the shipped
    rules (tests/nginx_cluster.py) in front of two instances of one worker each (the same
    number of processes), all recording into one database."""
    import shutil
    import tempfile
    from pathlib import Path

    from tests.nginx_cluster import Nginx

    directory = Path(tempfile.mkdtemp(prefix="chat-bench-nginx-"))
    database = args.database_url or f"sqlite:///{directory}/chat.db"
    workers, threads = common.gunicorn_capacity()
    one_worker = {"WEB_CONCURRENCY": "1", "DATABASE_URL": database, "TRUSTED_PROXIES": "1"}
    proxy = None
    try:
        with (
            common.upstream(args.tokens, args.delay_ms) as up,
            common.app(up, records=True, DATABASE_URL=database) as direct,
            common.app(up, records=True, **one_worker) as first,
            common.app(up, records=True, **one_worker) as second,
        ):
            proxy = Nginx(directory / "nginx", [first.port, second.port])
            kind = "SQLite, one file" if database.startswith("sqlite") else "shared database"
            common.header(
                "load: concurrent streams through nginx and two instances, beside one instance",
                args,
                [
                    up.describe(),
                    f"one instance: {common.describe_app(direct, records=True)}",
                    f"nginx {_nginx_version()}: deploy/nginx/chat-locations.conf and chat.conf's "
                    f"upstream (least_conn, keepalive) in front of two instances of 1 worker x "
                    f"{threads} threads; records: {kind} for all three",
                    f"capacity: {workers} x {threads} streams at once either way",
                    "ideal (upstream delay only): TTFT "
                    f"{args.delay_ms:g} ms, total {args.tokens * args.delay_ms:g} ms",
                ],
            )
            paths = {
                "upstream alone, openai SDK": sdk_upstream(up.base_url, expected),
                "upstream alone, raw HTTP": lambda: raw_upstream(up.port, expected),
                DIRECT_PATH: lambda: through_app(direct.port, expected),
                NGINX_PATH: lambda: through_app(proxy.port, expected),
                "one instance, page form (recorded)": lambda: through_app_recorded(
                    direct.port, expected
                ),
                "nginx, page form (recorded)": lambda: through_app_recorded(proxy.port, expected),
            }
            measure(args, clients, paths, [DIRECT_PATH, NGINX_PATH])
    finally:
        if proxy is not None:
            proxy.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _nginx_version() -> str:
    import subprocess

    from tests.nginx_cluster import nginx_binary

    binary = nginx_binary()
    if binary is None:
        raise SystemExit("--nginx needs nginx (apt-get install nginx)")
    answer = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr
    return answer.strip().rsplit("/", 1)[-1]


def measure(
    args: argparse.Namespace,
    clients: list[int],
    paths: dict[str, Callable[[], Callable[[], Result]]],
    compared: list[str],
) -> None:
    """The bursts of every path, per N, and their table; `compared` against the upstream."""
    # Warm-up (not counted): worker threads, upstream connection pools, first imports.
    for prepare in paths.values():
        burst(min(10, max(clients)), prepare, args.timeout)

    for count in clients:
        bursts: dict[str, list[Burst]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, prepare in paths.items():
                time.sleep(0.5)  # let the previous burst's sockets and threads wind down
                bursts[name].append(burst(count, prepare, args.timeout))
        print(f"N = {count} concurrent streams, {args.rounds} rounds pooled")
        rows, p95 = [], {}
        for name, runs in bursts.items():
            row, p95[name] = summarize(name, runs)
            rows.append(row)
        common.table(
            [
                "path",
                "ok",
                "errors",
                "TTFT p50 ms",
                "TTFT p95 ms",
                "total p50 ms",
                "total p95 ms",
                "tokens/s",
                "wall s",
                "client CPU",
            ],
            rows,
        )
        for name, runs in bursts.items():
            kinds = error_kinds(runs)
            if kinds:
                print(f"  errors, {name}: {kinds}")
        for app_name in compared:
            for base in ("upstream alone, openai SDK", "upstream alone, raw HTTP"):
                ratio = p95[app_name] / p95[base] if p95[base] else float("nan")
                print(
                    f"  p95 TTFT ratio {app_name.removesuffix(' /api/chat/stream')} / "
                    f"{base.removeprefix('upstream alone, ')}: "
                    f"{ratio:.2f}x   (target at N=50: <= {TARGET_RATIO:g}x)"
                )
            errors = sum(not r.ok for b in bursts[app_name] for r in b.results)
            print(f"  errors, {app_name}: {errors}   (target: {TARGET_ERRORS})")
        print("  first byte and first text, bytes per reply (raw-HTTP readers; medians)")
        common.table(
            BYTES_HEADERS,
            [
                bytes_row(name, [r for b in bursts[name] for r in b.results])
                for name in ("upstream alone, raw HTTP", *compared)
            ],
            indent="    ",
        )
        print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="50,200", help="comma-separated N (default 50,200)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per N and path (pooled)")
    parser.add_argument("--tokens", type=int, default=common.DEFAULT_TOKENS)
    parser.add_argument("--delay-ms", type=float, default=common.DEFAULT_DELAY_MS)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per burst, at most")
    parser.add_argument(
        "--page-reply",
        action="store_true",
        help="instead of the bursts: the wire bytes of one long reply in the page's form",
    )
    parser.add_argument(
        "--page-reply-tokens",
        type=int,
        default=1600,
        help="--page-reply's reply, in tokens of 5 characters (default 1600: 8,000 characters)",
    )
    parser.add_argument(
        "--nginx",
        action="store_true",
        help="the same bursts through nginx in front of two instances, beside one instance",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="--nginx: the instances' shared DATABASE_URL (default: one SQLite file)",
    )
    args = parser.parse_args()
    clients = [int(n) for n in args.clients.split(",") if n.strip()]
    timer = common.Timer()
    if args.page_reply:
        page_reply(args)
        timer.done()
        return
    expected = common.reply_text(args.tokens)
    if args.nginx:
        behind_nginx(args, clients, expected)
        print(NOTES)
        timer.done()
        return

    with common.upstream(args.tokens, args.delay_ms) as up, common.app(up, records=True) as app:
        workers, threads = common.gunicorn_capacity()
        common.header(
            "load: concurrent streams through POST /api/chat/stream vs the upstream alone",
            args,
            [
                up.describe(),
                common.describe_app(app, records=True),
                f"capacity: {workers} x {threads} = {workers * threads} streams at once; more "
                "wait in gunicorn's queue (their wait counts in their TTFT)",
                "clients: threads in this process, each its own new connection, released by a "
                "barrier; app streams send plain deltas (snapshots off); the messages form has "
                "no conversation id, the page form records its question and reply",
                "ideal (upstream delay only): TTFT "
                f"{args.delay_ms:g} ms, total {args.tokens * args.delay_ms:g} ms",
            ],
        )
        paths = {
            "upstream alone, openai SDK": sdk_upstream(up.base_url, expected),
            "upstream alone, raw HTTP": lambda: raw_upstream(up.port, expected),
            APP_PATH: lambda: through_app(app.port, expected),
            "app, page form (recorded)": lambda: through_app_recorded(app.port, expected),
        }
        measure(args, clients, paths, [APP_PATH])
    print(NOTES)
    timer.done()


if __name__ == "__main__":
    main()
