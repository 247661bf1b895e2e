"""Shared pieces of the benchmarks: a fixed-reply fake upstream, the app, and printing.

The fake upstream runs in a process of its own (`python bench/_common.py upstream ...`), so
the benchmark's own client threads (up to hundreds of them, in this process) do not compete
with it for the GIL: what is measured is the app, not the fake being starved.

Every script prints numbers only, never pass/fail; the targets of issue #7 are printed next to
them for reading convenience.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# A developer's .env must not change what is measured.
os.environ["CHAT_ENV_FILE"] = ""

# The key the fake expects and the app sends; not shaped like a real key.
BENCH_KEY = "sk-test-fake-key-0000"
# The reference upstream of issue #7: 50 tokens, 10 ms apart.
DEFAULT_TOKENS = 50
DEFAULT_DELAY_MS = 10.0
# The fake's listen backlog: big enough that hundreds of simultaneous connects queue, not fail.
UPSTREAM_BACKLOG = 1024
# Each token is one 5-character piece, so the reply is exactly `tokens` content chunks.
TOKEN_CHARS = 5
LAST_TOKEN = "done."
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"


# --------------------------------------------------------------------------- the reply


def reply_text(tokens: int) -> str:
    """`tokens` pieces of TOKEN_CHARS characters: "w000 w001 ... done." (at most 10,000).

    Pieces 1000 and on are bare numbers ("1000 "), so that they keep TOKEN_CHARS characters.
    """
    if not 1 <= tokens <= 10_000:
        raise ValueError("tokens must be between 1 and 10000")
    pieces = (f"w{i:03d} " if i < 1000 else f"{i:04d} " for i in range(tokens - 1))
    return "".join(pieces) + LAST_TOKEN


def first_token(tokens: int) -> str:
    """The text of the first token (what "first text visible" looks for)."""
    return reply_text(tokens)[: TOKEN_CHARS - 1]


# A question that starts with this gets a reply of its own (seed_reply), at once and in a few
# large pieces: how a benchmark builds a long conversation through the app.
SEED_MARK = "(seeded)"
_SYLLABLES = ("ka", "lo", "ri", "men", "tas", "vel", "pin", "ur", "sa", "ne", "qui", "bra")
_SYLLABLES += ("fen", "tol", "mi", "gar", "zu", "po", "lex", "ra", "ti", "vo", "sen", "dem")


def seed_reply(question: str, words: int) -> str:
    """About `words` words of Markdown (paragraphs and a list), different for each question.

    Made of made-up words, so that it never holds a token of reply_text ("w000", "done.") and
    so that no two replies compress into each other.
    """
    import random
    import zlib

    rng = random.Random(zlib.crc32(question.encode("utf-8")))

    def word() -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3))))

    def sentence(count: int) -> str:
        text = " ".join(word() for _ in range(count))
        return text[0].upper() + text[1:] + "."

    blocks: list[str] = []
    left = words
    while left > 0:
        if len(blocks) == 2:  # one list per reply, as real answers often have
            items = [f"- **{word()}**: {sentence(rng.randint(6, 10))}" for _ in range(4)]
            left -= sum(len(item.split()) for item in items)
            blocks.append("\n".join(items))
            continue
        sentences = []
        while left > 0 and sum(len(x.split()) for x in sentences) < 80:
            count = min(left, rng.randint(8, 16))
            sentences.append(sentence(count))
            left -= count
        blocks.append(" ".join(sentences))
    return "\n\n".join(blocks)


# --------------------------------------------------------------------------- the fake upstream


def _serve_upstream(tokens: int, delay_ms: float, seed_words: int = 0) -> None:
    """Child process: serve the same reply to every request until stdin closes or SIGTERM.

    With `seed_words`, a question starting with SEED_MARK gets seed_reply() instead.
    """
    from tests import fake_upstream
    from tests.fake_upstream import FakeUpstream, Reply

    reply = Reply(reply_text(tokens), chunk_size=TOKEN_CHARS, delay=delay_ms / 1000)

    def seeded(body: Any) -> Reply | None:
        messages = body.get("messages") if isinstance(body, dict) else None
        question = messages[-1].get("content") if messages else None
        if seed_words and isinstance(question, str) and question.startswith(SEED_MARK):
            return Reply(seed_reply(question, seed_words), chunk_size=400)
        return None

    class FixedReplyUpstream(FakeUpstream):
        """Every chat request gets the same `reply`; requests are counted, not kept."""

        def __init__(self) -> None:
            super().__init__(api_key=BENCH_KEY)
            self.count = 0

        def start(self):
            # ThreadingHTTPServer listens with a backlog of 5 by default; under a burst of
            # connects the kernel would then drop SYNs and clients would wait ~1 s to retry.
            fake_upstream._Server.request_queue_size = UPSTREAM_BACKLOG
            return super().start()

        def _next_scenario(self, body: Any):
            return seeded(body) or reply

        def _record(self, request: Any) -> None:
            with self._changed:  # keep memory flat over thousands of requests
                self.count += 1

    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with FixedReplyUpstream() as fake:
        print(fake.port, flush=True)
        # The parent holds our stdin; when it goes away (even killed), so do we.
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(sys.stdin, selectors.EVENT_READ)
        while not stop:
            if sel.select(timeout=0.2) and not sys.stdin.buffer.read1(1):
                break


@dataclass
class Upstream:
    """A running fake upstream process."""

    port: int
    tokens: int
    delay_ms: float
    process: subprocess.Popen
    seed_words: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def describe(self) -> str:
        seeded = (
            f"; questions starting {SEED_MARK!r} get ~{self.seed_words} words of their own at once"
            if self.seed_words
            else ""
        )
        return (
            f"fake upstream: {self.tokens} tokens of {TOKEN_CHARS} chars, {self.delay_ms:g} ms "
            f"before each (own process, listen backlog {UPSTREAM_BACKLOG}){seeded}"
        )


@contextlib.contextmanager
def upstream(
    tokens: int = DEFAULT_TOKENS, delay_ms: float = DEFAULT_DELAY_MS, seed_words: int = 0
) -> Iterator[Upstream]:
    """Start the fake upstream in a child process; stop it on exit. `seed_words`: see
    seed_reply (0: every request gets the same reply)."""
    script = str(Path(__file__).resolve())
    proc = subprocess.Popen(
        [sys.executable, script, "upstream", str(tokens), str(delay_ms), str(seed_words)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.strip().isdigit():
            raise RuntimeError(f"the fake upstream did not start (printed {line!r})")
        yield Upstream(int(line), tokens, delay_ms, proc, seed_words)
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a child we started, then kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


# --------------------------------------------------------------------------- the app


def gunicorn_capacity(env: dict[str, str] | None = None) -> tuple[int, int]:
    """(workers, threads) that the shipped gunicorn.conf.py gives for `env`."""
    saved = dict(os.environ)
    try:
        os.environ.update(env or {})
        conf = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return int(conf["workers"]), int(conf["threads"])


@contextlib.contextmanager
def app(up: Upstream, *, records: bool = True, prime: bool = True, **env: str) -> Iterator[Any]:
    """`gunicorn chat_app:server` with the shipped gunicorn.conf.py, wired to the fake.

    Yields the tests' AppProcess (`.url`, `.port`, `.log_path`). WEB_CONCURRENCY and
    GUNICORN_THREADS keep the conf's defaults unless set in the environment. Records (when on)
    go to an SQLite file in a temporary directory, removed afterwards. `prime`: see
    prime_workers.
    """
    # Imported here: tests.e2e.conftest loads the whole app, which the upstream child needn't.
    from tests.e2e.conftest import AppProcess

    data = tempfile.mkdtemp(prefix="chat-bench-")
    workers, _threads = gunicorn_capacity()
    full_env = {
        "OPENAI_API_KEY": BENCH_KEY,
        "OPENAI_BASE_URL": up.base_url,
        "OPENAI_MAX_RETRIES": "0",
        # AppProcess pins one worker for the tests; the benchmarks use the shipped default.
        "WEB_CONCURRENCY": str(workers),
        "RECORDS_ENABLED": "true" if records else "false",
        "DATABASE_URL": f"sqlite:///{data}/chat.db",
        "SECRET_KEY": "bench-secret-not-for-production",
        **env,
    }
    process = AppProcess(full_env)
    try:
        process.primed = prime_workers(process.url) if prime else "workers not primed"
        yield process
    finally:
        process.stop()
        shutil.rmtree(data, ignore_errors=True)


def _get(url: str) -> tuple[int, bytes]:
    """GET over a new connection (so that any worker may take it): (status, body)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def prime_workers(base_url: str, clean_rounds: int = 3, max_rounds: int = 12) -> str:
    """Have every gunicorn worker render the page once; report what failed before that.

    Dash registers the script paths it may serve only while rendering the page, per process.
    With preload_app every worker starts with none, so a worker that has not served `/` yet
    answers 500 to the page's script requests, and a browser that reaches it never starts the
    page. The benchmarks measure a warmed-up server: the page and its scripts are fetched
    concurrently (new connections, so both workers take some) until `clean_rounds` rounds in a
    row see no failure. The failures seen on the way are reported: the problem is the app's.
    """
    import re
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    status, page = _get(base_url + "/")
    scripts = [s.decode() for s in re.findall(rb'src="(/_dash-component-suites/[^"]+)"', page)]
    if status != 200 or not scripts:
        return f"workers not primed (GET / answered {status}, {len(scripts)} scripts)"
    paths = ["/"] * 4 + scripts
    seen: Counter = Counter()
    clean = rounds = 0
    with ThreadPoolExecutor(len(paths)) as pool:
        while clean < clean_rounds and rounds < max_rounds:
            rounds += 1
            statuses = list(pool.map(lambda path: _get(base_url + path)[0], paths))
            seen.update(statuses[4:])
            clean = clean + 1 if all(s == 200 for s in statuses) else 0
    answers = ", ".join(f"{status} x{n}" for status, n in sorted(seen.items()))
    primed = "" if clean >= clean_rounds else " (failures went on: NOT primed)"
    return (
        f"{rounds} rounds of the page and its {len(scripts)} scripts, fetched concurrently on "
        f"new connections; script answers: {answers}{primed}"
    )


def describe_app(process: Any, *, records: bool) -> str:
    workers, threads = gunicorn_capacity()
    return (
        f"app: gunicorn chat_app:server, shipped gunicorn.conf.py (gthread, {workers} workers x "
        f"{threads} threads = {workers * threads} concurrent requests), records "
        f"{'on (SQLite)' if records else 'off'}, log {process.log_path.relative_to(REPO)}\n"
        f"warm-up: {getattr(process, 'primed', 'workers not primed')}"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sdk_times(client: Any) -> tuple[float, float]:
    """The floor: the openai SDK alone, streaming one reply straight from the fake.

    (first content token, end of stream) in seconds from the call.
    """
    start = time.perf_counter()
    first = None
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - start
    return first if first is not None else float("nan"), time.perf_counter() - start


# --------------------------------------------------------------------------- the browser


def chromium_args() -> list[str]:
    from tests.e2e.conftest import CHROMIUM_ARGS

    return list(CHROMIUM_ARGS)


def launch_chromium(playwright: Any) -> Any:
    if not Path(CHROMIUM_PATH).exists():
        sys.exit(f"Chromium not found at {CHROMIUM_PATH} (set CHROMIUM_PATH)")
    return playwright.chromium.launch(
        executable_path=CHROMIUM_PATH, headless=True, args=chromium_args()
    )


def _head_size(status: int, headers: dict[str, str]) -> int:
    """An HTTP/1.1 response's status line and headers, in bytes (reason phrase estimated)."""
    return (
        len(f"HTTP/1.1 {status} OK\r\n") + sum(len(k) + len(v) + 4 for k, v in headers.items()) + 2
    )


@dataclass
class Transfer:
    """One request as Chromium's network layer saw it (CDP Network events)."""

    request_id: str
    url: str
    method: str
    post_data: bytes | None = None
    has_post_data: bool = False
    request_headers: dict[str, str] | None = None
    status: int | None = None
    response_headers: dict[str, str] | None = None
    mime_type: str = ""
    from_cache: bool = False  # memory or disk cache: nothing went over the network
    encoded: int | None = None  # loadingFinished.encodedDataLength: bytes received, headers too
    response_head: int = 0  # status line and headers as received (responseReceivedExtraInfo)
    wire_status: int | None = None  # the status on the wire: 304 where `status` shows 200
    decoded: int = 0  # sum of dataReceived.dataLength: the body after decoding
    done: bool = False
    failed: str = ""

    @property
    def path(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def bytes_down(self) -> int:
        """Bytes received. A response that CDP reports as failed after its headers arrived
        (Chromium does so for a fetch answered 204) counts its status line and headers."""
        if self.encoded is not None:
            return self.encoded
        if self.response_head:
            return self.response_head
        if self.status and self.response_headers is not None:
            return _head_size(self.status, self.response_headers)
        return 0

    @property
    def status_text(self) -> str:
        status = self.wire_status or self.status
        if status:
            return f"{status}{'*' if self.failed else ''}"
        return self.failed or "?"

    @property
    def short_path(self) -> str:
        """The path for a table: Dash's callback URL without its query, long paths' tails."""
        path = self.path
        if "/_dash-update-component" in path:
            return path.split("?")[0]
        return path if len(path) <= 58 else "…" + path[-57:]

    @property
    def body_up(self) -> int:
        return len(self.post_data or b"")

    @property
    def headers_up(self) -> int:
        """Request line and headers as sent (HTTP/1.1 framing), 0 if unknown."""
        if not self.request_headers:
            return 0
        line = len(f"{self.method} {self.path} HTTP/1.1\r\n")
        return line + sum(len(k) + len(v) + 4 for k, v in self.request_headers.items()) + 2

    def header(self, name: str) -> str:
        for key, value in (self.response_headers or {}).items():
            if key.lower() == name.lower():
                return value
        return ""


class NetworkLog:
    """Every request of one page, from CDP Network events (exact encoded byte counts)."""

    def __init__(self, context: Any, page: Any) -> None:
        import base64

        self._b64 = base64.b64decode
        self.transfers: dict[str, Transfer] = {}
        self.recording = True
        self.last_activity = time.monotonic()
        self.cdp = context.new_cdp_session(page)
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.requestWillBeSentExtraInfo", self._sent_extra)
        self.cdp.on("Network.requestServedFromCache", self._from_cache)
        self.cdp.on("Network.responseReceived", self._response)
        self.cdp.on("Network.responseReceivedExtraInfo", self._response_extra)
        self.cdp.on("Network.dataReceived", self._data)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.on("Network.loadingFailed", self._failed)
        self.cdp.send("Network.enable", {"maxPostDataSize": 64 * 1024 * 1024})

    # ---- events

    def _get(self, params: dict) -> Transfer | None:
        self.last_activity = time.monotonic()
        return self.transfers.get(params["requestId"])

    def _sent(self, params: dict) -> None:
        self.last_activity = time.monotonic()
        if not self.recording:
            return
        request = params["request"]
        post: bytes | None = None
        entries = request.get("postDataEntries")
        if entries:
            post = b"".join(self._b64(e.get("bytes", "")) for e in entries)
        elif request.get("postData") is not None:
            post = request["postData"].encode("utf-8")
        previous = self.transfers.get(params["requestId"])
        transfer = Transfer(
            request_id=params["requestId"],
            url=request["url"],
            method=request["method"],
            post_data=post,
            has_post_data=bool(request.get("hasPostData")),
        )
        if previous is not None:  # a redirect reuses the id: keep the headers seen so far
            transfer.request_headers = previous.request_headers
        self.transfers[params["requestId"]] = transfer

    def _sent_extra(self, params: dict) -> None:
        transfer = self._get(params)
        if transfer is not None:
            transfer.request_headers = params.get("headers") or {}
        elif self.recording:
            # ExtraInfo may come before requestWillBeSent: keep it for when that arrives.
            self.transfers[params["requestId"]] = Transfer(
                params["requestId"], "", "", request_headers=params.get("headers") or {}
            )

    def _from_cache(self, params: dict) -> None:
        transfer = self._get(params)
        if transfer is not None:
            transfer.from_cache = True

    def _response(self, params: dict) -> None:
        transfer = self._get(params)
        if transfer is None:
            return
        response = params["response"]
        transfer.status = response.get("status")
        transfer.response_headers = response.get("headers") or {}
        transfer.mime_type = response.get("mimeType", "")
        if response.get("fromDiskCache") or response.get("fromPrefetchCache"):
            transfer.from_cache = True

    def _response_extra(self, params: dict) -> None:
        transfer = self._get(params)
        if transfer is None:
            return
        transfer.wire_status = params.get("statusCode")
        text = params.get("headersText")
        if text:
            transfer.response_head = len(text.encode("latin-1", "replace"))
        else:
            status = params.get("statusCode", 200)
            transfer.response_head = _head_size(status, params.get("headers") or {})

    def _data(self, params: dict) -> None:
        transfer = self._get(params)
        if transfer is not None:
            transfer.decoded += params.get("dataLength", 0)

    def _finished(self, params: dict) -> None:
        transfer = self._get(params)
        if transfer is not None:
            transfer.encoded = int(params.get("encodedDataLength", 0))
            transfer.done = True

    def _failed(self, params: dict) -> None:
        transfer = self._get(params)
        if transfer is not None:
            transfer.failed = params.get("errorText", "failed") or "failed"
            transfer.done = True

    # ---- use

    def clear(self) -> None:
        self.transfers.clear()

    def inflight(self) -> list[Transfer]:
        return [t for t in self.transfers.values() if t.url and not t.done]

    def wait_quiet(self, page: Any, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Until nothing is in flight and no network event came for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            page.wait_for_timeout(100)  # lets Playwright deliver the CDP events
            idle = time.monotonic() - self.last_activity
            if not self.inflight() and idle >= quiet:
                return
        pending = ", ".join(t.path[:60] for t in self.inflight())
        print(f"  (network not quiet after {timeout:.0f} s; in flight: {pending or 'none'})")

    def completed(self) -> list[Transfer]:
        return [t for t in self.transfers.values() if t.url]

    def body(self, transfer: Transfer) -> bytes | None:
        """The decoded response body, if Chromium still holds it."""
        try:
            result = self.cdp.send("Network.getResponseBody", {"requestId": transfer.request_id})
        except Exception:
            return None
        if result.get("base64Encoded"):
            return self._b64(result["body"])
        return result["body"].encode("utf-8")

    def post_data(self, transfer: Transfer) -> None:
        """Fetch a request body CDP left out of requestWillBeSent (large bodies)."""
        if transfer.post_data is None and transfer.has_post_data:
            try:
                result = self.cdp.send(
                    "Network.getRequestPostData", {"requestId": transfer.request_id}
                )
                transfer.post_data = result["postData"].encode("utf-8")
            except Exception:
                pass


# --------------------------------------------------------------------------- numbers


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linear between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ms(seconds: float) -> str:
    """Seconds as milliseconds, one decimal; "-" for a missing value."""
    if seconds != seconds:  # NaN
        return "-"
    return f"{seconds * 1000:.1f}"


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> None:
    """Print an aligned table: the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        return (indent + "  ".join(parts)).rstrip()

    print(line(cells[0]))
    print(indent + "  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def header(
    title: str,
    args: argparse.Namespace | None = None,
    extra: Sequence[str] = (),
    packages: Sequence[str] = (),
) -> None:
    """What was measured, where and with what: the top of every script's output.

    `packages`: more distributions whose versions matter here (bench/requirements.txt's).
    """
    print(f"== {title}")
    print(f"date:     {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine:  {platform.platform()}, {os.cpu_count()} CPUs")
    names = ("dash", "openai", "gunicorn", "playwright", *packages)
    versions = ", ".join(f"{name} {_version(name)}" for name in names)
    print(f"versions: python {platform.python_version()}, {versions}")
    print(f"commit:   {_git_state()}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load avg: {load} (1, 5, 15 min, before the run; other work on the machine skews times)")
    if args is not None:
        options = " ".join(f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items())
        print(f"options:  {options}")
    for line in extra:
        print(line)
    print(flush=True)


class Timer:
    """How long the whole script took, printed at the end."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def done(self) -> None:
        print(f"\n(finished in {time.perf_counter() - self.start:.1f} s)")


if __name__ == "__main__" and sys.argv[1:2] == ["upstream"]:
    _serve_upstream(int(sys.argv[2]), float(sys.argv[3]), int((sys.argv[4:5] or ["0"])[0]))
