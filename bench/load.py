"""Load: N concurrent clients streaming through POST /api/chat/stream, against the upstream alone.

    python bench/load.py [--clients 50,200] [--rounds 3] [--tokens 50] [--delay-ms 10]

Starts the fake upstream (its own process) and `gunicorn chat_app:server` with the shipped
gunicorn.conf.py on 127.0.0.1. For each N, in each round: N threads, each with its own new
connection, released together by a barrier, each streaming one reply and reading it to its
final event. The same burst goes straight to the fake upstream twice: through the openai SDK
(one client per thread) and through the same raw-HTTP reader the app burst uses. Prints
successes, errors, p50/p95 time to the first text and to the end, aggregate tokens/s and the
app/upstream ratio of p95 time to first token. Numbers only, no pass/fail.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import _common as common
import openai

# Targets of issue #7, printed next to the figures.
TARGET_ERRORS = "200 streams: 0 errors"
TARGET_RATIO = 2.0  # at 50 streams: app p95 TTFT <= 2x upstream p95 TTFT


@dataclass
class Result:
    ok: bool
    error: str = ""
    ttft: float = float("nan")
    total: float = float("nan")
    tokens: int = 0
    end: float = 0.0  # perf_counter() when the stream ended


def _post(port: int, path: str, body: dict, headers: dict[str, str]) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
    return conn, conn.getresponse()


def through_app(port: int, expected: str) -> Callable[[], Result]:
    """One stream through the app's /api/chat/stream (plain deltas, no snapshots)."""
    body = {"messages": [{"role": "user", "content": "hi"}], "snapshots": False}

    def run() -> Result:
        start = time.perf_counter()
        first = None
        text: list[str] = []
        conn = None
        try:
            conn, response = _post(port, "/api/chat/stream", body, {})
            if response.status != 200:
                return Result(False, f"HTTP {response.status}", end=time.perf_counter())
            while True:
                line = response.readline()
                if not line:
                    return _end(False, "no final event", start, first, text)
                if not line.startswith(b"data:"):
                    continue
                event = json.loads(line[5:])
                if "delta" in event:
                    if first is None:
                        first = time.perf_counter() - start
                    text.append(event["delta"])
                elif event.get("done"):
                    ok = "".join(text) == expected
                    return _end(ok, "" if ok else "incomplete text", start, first, text)
                elif "error" in event:
                    kind = (event["error"] or {}).get("type", "?")
                    return _end(False, f"error event: {kind}", start, first, text)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return _end(False, type(exc).__name__, start, first, text)
        finally:
            if conn is not None:
                conn.close()

    return run


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
        conn = None
        try:
            conn, response = _post(port, "/v1/chat/completions", body, auth)
            if response.status != 200:
                return Result(False, f"HTTP {response.status}", end=time.perf_counter())
            while True:
                line = response.readline()
                if not line:
                    return _end(False, "no [DONE]", start, first, text)
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    ok = "".join(text) == expected
                    return _end(ok, "" if ok else "incomplete text", start, first, text)
                chunk = json.loads(data)
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        if first is None:
                            first = time.perf_counter() - start
                        text.append(piece)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return _end(False, type(exc).__name__, start, first, text)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="50,200", help="comma-separated N (default 50,200)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per N and path (pooled)")
    parser.add_argument("--tokens", type=int, default=common.DEFAULT_TOKENS)
    parser.add_argument("--delay-ms", type=float, default=common.DEFAULT_DELAY_MS)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per burst, at most")
    args = parser.parse_args()
    clients = [int(n) for n in args.clients.split(",") if n.strip()]
    timer = common.Timer()
    expected = common.reply_text(args.tokens)

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
                "barrier; app streams send plain deltas (snapshots off), no conversation id",
                "ideal (upstream delay only): TTFT "
                f"{args.delay_ms:g} ms, total {args.tokens * args.delay_ms:g} ms",
            ],
        )
        paths = {
            "upstream alone, openai SDK": sdk_upstream(up.base_url, expected),
            "upstream alone, raw HTTP": lambda: raw_upstream(up.port, expected),
            "app /api/chat/stream": lambda: through_app(app.port, expected),
        }
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
            app_p95 = p95["app /api/chat/stream"]
            for base in ("upstream alone, openai SDK", "upstream alone, raw HTTP"):
                ratio = app_p95 / p95[base] if p95[base] else float("nan")
                print(
                    f"  p95 TTFT ratio app / {base.removeprefix('upstream alone, ')}: "
                    f"{ratio:.2f}x   (target at N=50: <= {TARGET_RATIO:g}x)"
                )
            app_errors = sum(not r.ok for b in bursts["app /api/chat/stream"] for r in b.results)
            print(f"  errors through the app: {app_errors}   (target: {TARGET_ERRORS})")
            print(flush=True)
    print(
        "tokens/s: successful streams' tokens / wall time of the burst, mean over rounds; "
        "client CPU: this process's CPU time / wall (100% = one core)"
    )
    timer.done()


if __name__ == "__main__":
    main()
