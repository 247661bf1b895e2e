"""How much the app adds to a streamed reply, measured against the fake upstream.

    python bench/stream_latency.py [--requests 50] [--concurrency 16]

Starts the fake upstream and the app under gunicorn (gthread, as in production) on 127.0.0.1,
then prints, for sequential requests, time to the first text event and to the final event,
both through the app's /api/chat/stream and straight from the fake with the openai SDK (the
difference is the app's own overhead), and, for concurrent streams, how many finish and how
long the slowest takes. Numbers only; no pass/fail.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ["CHAT_ENV_FILE"] = ""

import _common as common  # noqa: E402
import openai  # noqa: E402

from tests.conftest import TEST_KEY  # noqa: E402
from tests.e2e.conftest import AppProcess  # noqa: E402
from tests.fake_upstream import FakeUpstream, Reply  # noqa: E402

TEXT = "streaming " * 100  # 1000 characters in 250 chunks


def through_app(port: int, snapshots: bool) -> tuple[float, float]:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "snapshots": snapshots})
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/api/chat/stream", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    first = None
    buffer = b""
    while True:
        line = response.readline()
        if not line:
            break
        buffer += line
        if line.startswith(b"data:") and first is None and b'"delta"' in line:
            first = time.perf_counter() - start
        if line.startswith(b"data:") and (b'"done"' in line or b'"error"' in line):
            break
    total = time.perf_counter() - start
    conn.close()
    if b'"done":true' not in buffer:
        raise RuntimeError(f"stream did not finish: {buffer[-300:]!r}")
    return first or total, total


def direct(client: openai.OpenAI) -> tuple[float, float]:
    start = time.perf_counter()
    first = None
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start


def summary(name: str, samples: list[tuple[float, float]]) -> None:
    firsts = sorted(s[0] * 1000 for s in samples)
    totals = sorted(s[1] * 1000 for s in samples)
    p95 = max(0, int(len(firsts) * 0.95) - 1)
    print(
        f"{name:<28} first text: median {statistics.median(firsts):6.1f} ms, "
        f"p95 {firsts[p95]:6.1f} ms | whole reply: median {statistics.median(totals):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    common.header(
        "stream latency: the app's /api/chat/stream against the SDK straight to the fake",
        args,
        ["app: gunicorn chat_app:server, shipped gunicorn.conf.py, 2 workers; the messages form"],
    )

    with FakeUpstream(api_key=TEST_KEY) as fake:
        app = AppProcess(
            {
                "OPENAI_API_KEY": TEST_KEY,
                "OPENAI_BASE_URL": fake.base_url,
                "OPENAI_MAX_RETRIES": "0",
                "WEB_CONCURRENCY": "2",
            }
        )
        try:
            client = openai.OpenAI(base_url=fake.base_url, api_key=TEST_KEY, max_retries=0)
            runs = {"direct (SDK -> fake)": [], "app, deltas": [], "app, snapshots": []}
            for _ in range(args.requests):
                fake.script(Reply(TEXT), Reply(TEXT), Reply(TEXT))
                runs["direct (SDK -> fake)"].append(direct(client))
                runs["app, deltas"].append(through_app(app.port, snapshots=False))
                runs["app, snapshots"].append(through_app(app.port, snapshots=True))
            print(f"{args.requests} sequential streams of {len(TEXT)} characters in 4-char chunks")
            for name, samples in runs.items():
                summary(name, samples)

            # Concurrent slow streams: each takes ~2.5 s upstream; all should overlap.
            count = args.concurrency
            fake.script(*[Reply(TEXT, chunk_size=40, delay=0.1) for _ in range(count)])
            start = time.perf_counter()
            with ThreadPoolExecutor(count) as pool:
                results = list(pool.map(lambda _: through_app(app.port, True), range(count)))
            wall = time.perf_counter() - start
            slowest = max(r[1] for r in results)
            print(
                f"{count} concurrent slow streams (2.5 s each upstream): all finished, "
                f"wall {wall:.2f} s, slowest {slowest:.2f} s"
            )
        finally:
            app.stop()


if __name__ == "__main__":
    main()
