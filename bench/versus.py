"""Versus: this app against a plain Gradio ChatInterface, click -> text on screen, one probe.

    python bench/versus.py [--runs 20] [--warmup 3] [--tokens 50] [--delay-ms 10]

Needs `pip install -r bench/requirements.txt` (Gradio). Starts the fake upstream (its own
process), this app (`gunicorn chat_app:server`, shipped gunicorn.conf.py) and a plain Gradio
`ChatInterface` whose fn streams from the same upstream through the openai SDK (its own process,
bench/_gradio_app.py, analytics and telemetry off), all on 127.0.0.1. Headless Chromium opens
both pages; then, interleaved, one run of the app, one of Gradio and one of the SDK floor (the
openai SDK alone: first content token, end of stream), again and again.

Both pages get the same probe (bench/_probe.py, installed before their scripts): from the click
on the send button (a capture-phase listener) to the first DOM mutation after which the first
token is visible in the page's reply area, and to the first after which the last token is.
Only three selectors per page tell it where to look: the send button, the input box and the
reply area. Each run starts a new chat on both pages. Prints medians and p90s, each app's
overhead over the floor and the ratio app overhead / Gradio overhead. Numbers only.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import _common as common
import _probe as probe
import openai
from _gradio_app import OFFLINE_ENV
from playwright.sync_api import sync_playwright


@dataclass(frozen=True)
class Page:
    """All the probe and the runs know of a page."""

    send: str  # the send button: its click starts the clock (a real click, not Enter)
    box: str  # the message box
    area: str  # where the question and the reply show
    new_chat: str  # clicked before each run, when shown, for an empty chat


# This app's page. The live reply (#chat-live-reply) and the finished replies
# (.chat-message-assistant:not(.chat-message-live)) are both inside #chat-messages.
APP_PAGE = Page(
    send="#chat-send-button",
    box="#chat-input",
    area="#chat-messages",
    new_chat="#sidebar-new-button",
)
# Gradio's ChatInterface (checked with Gradio 6.30).
GRADIO_PAGE = Page(
    send='button[data-testid="submit-button"]',
    box='textarea[data-testid="textbox"]',
    area='[role="log"]',
    new_chat='button[aria-label="Clear"]',
)

PAUSE_MS = 600  # a user's pause between typing and clicking (the app's size estimate lands)
SETTLE_MS = 300  # after a run: trailing requests (the app's sidebar, Gradio's state sync)
REPLY_TIMEOUT_MS = 30_000


# --------------------------------------------------------------------------- Gradio


@dataclass
class GradioProcess:
    url: str
    log_path: Any
    started_in: float  # seconds from spawn to the page answering 200


@contextlib.contextmanager
def gradio_app(up: common.Upstream, timeout: float = 90.0) -> Iterator[GradioProcess]:
    """bench/_gradio_app.py on a free port, in a process of its own; stopped on exit."""
    port = common.free_port()
    artifacts = common.REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    log_path = artifacts / f"gradio-{port}.log"
    command = [
        sys.executable,
        str(common.REPO / "bench" / "_gradio_app.py"),
        *("--port", str(port), "--base-url", up.base_url, "--api-key", common.BENCH_KEY),
    ]
    start = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command,
            cwd=common.REPO,
            env={**os.environ, **OFFLINE_ENV},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Gradio exited: {log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Gradio did not answer: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        yield GradioProcess(url, log_path, time.perf_counter() - start)
    finally:
        common.stop_process(proc)


# --------------------------------------------------------------------------- the runs


@dataclass
class Side:
    name: str
    page_spec: Page
    page: Any
    off_host: list[str]  # requests the page sent anywhere but 127.0.0.1


def open_side(browser: Any, name: str, spec: Page, url: str) -> Side:
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
    context.add_init_script(probe.PROBE)
    page = context.new_page()
    off_host: list[str] = []

    def note(request: Any) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith("http") and host not in ("127.0.0.1", "localhost"):
            off_host.append(request.url)

    page.on("request", note)
    page.goto(url)
    page.wait_for_selector(spec.box, state="visible", timeout=60_000)
    return Side(name, spec, page, off_host)


def new_chat(side: Side, tokens: int) -> None:
    """Empty the chat (the page's own button, when it shows one): no earlier reply on screen."""
    spec, page = side.page_spec, side.page
    button = page.locator(spec.new_chat).first
    if button.count() and button.is_visible():
        button.click()
    page.wait_for_function(
        "([area, a, b]) => window.__probe.shown(area, a) + window.__probe.shown(area, b) === 0",
        arg=[spec.area, common.first_token(tokens), common.LAST_TOKEN],
        timeout=15_000,
    )
    page.wait_for_timeout(SETTLE_MS)


def page_run(side: Side, index: int, tokens: int) -> dict[str, float]:
    """One question, from the click to the last token on screen; seconds from the click."""
    spec, page = side.page_spec, side.page
    page.bring_to_front()
    new_chat(side, tokens)
    question = f"Benchmark question {index:03d}: how do streams work?"
    page.fill(spec.box, question)
    page.wait_for_timeout(PAUSE_MS)
    probe.arm(
        page,
        click=spec.send,
        area=spec.area,
        box=spec.box,
        marks={
            "question": question,
            "first": common.first_token(tokens),
            "full": common.LAST_TOKEN,
        },
    )
    page.click(spec.send)
    probe.wait_for(page, "full", REPLY_TIMEOUT_MS)
    # Back to idle (the send button shows again), so that no run overlaps the next.
    page.locator(spec.send).first.wait_for(state="visible", timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(SETTLE_MS)
    return probe.result(page)


# --------------------------------------------------------------------------- numbers


def stats(values: list[float]) -> list[str]:
    known = [v for v in values if v == v]
    if not known:
        return ["-"] * 4
    return [
        common.ms(common.median(known)),
        common.ms(common.percentile(known, 90)),
        common.ms(min(known)),
        common.ms(max(known)),
    ]


def known(values: list[float]) -> list[float]:
    return [v for v in values if v == v]


def ratio(a: float, b: float) -> str:
    if a != a or b != b or b == 0:
        return "-"
    return f"{a / b:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="measured runs each (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="runs each before measuring")
    parser.add_argument("--tokens", type=int, default=common.DEFAULT_TOKENS)
    parser.add_argument("--delay-ms", type=float, default=common.DEFAULT_DELAY_MS)
    args = parser.parse_args()
    if importlib.util.find_spec("gradio") is None:
        sys.exit("Gradio is not installed: pip install -r bench/requirements.txt")
    timer = common.Timer()

    with (
        common.upstream(args.tokens, args.delay_ms) as up,
        common.app(up, records=True) as app,
        gradio_app(up) as gradio,
        sync_playwright() as playwright,
    ):
        browser = common.launch_chromium(playwright)
        try:
            common.header(
                "versus: this app and a plain Gradio ChatInterface, click -> text on screen",
                args,
                [
                    up.describe(),
                    common.describe_app(app, records=True),
                    "gradio: gr.ChatInterface(fn), fn streams through the openai SDK "
                    "(stream=True) and yields the growing text; uvicorn in its own process, "
                    f"analytics off; answered after {gradio.started_in:.1f} s; log "
                    f"{gradio.log_path.relative_to(common.REPO)}",
                    f"browser: headless Chromium {browser.version}, 1100x760, en-US, one tab "
                    "per app; a new chat before each run; the same probe in both pages "
                    "(bench/_probe.py), times from the click (performance.now)",
                    "floor: openai SDK stream straight to the fake, in this process",
                    f"order: app, gradio, floor; {args.warmup} warm-up rounds, then "
                    f"{args.runs} measured",
                ],
                packages=("gradio", "fastapi", "uvicorn"),
            )
            sides = [
                open_side(browser, "app", APP_PAGE, app.url),
                open_side(browser, "gradio", GRADIO_PAGE, gradio.url),
            ]
            client = openai.OpenAI(base_url=up.base_url, api_key=common.BENCH_KEY, max_retries=0)
            samples: dict[str, list[dict[str, float]]] = {"app": [], "gradio": []}
            floor: list[tuple[float, float]] = []
            for index in range(args.warmup + args.runs):
                results = {side.name: page_run(side, index, args.tokens) for side in sides}
                sdk = common.sdk_times(client)
                if index >= args.warmup:
                    for name, result in results.items():
                        samples[name].append(result)
                    floor.append(sdk)
            client.close()
            off_host = {side.name: list(side.off_host) for side in sides}
        finally:
            browser.close()

    report(args, samples, floor, off_host)
    timer.done()


def report(
    args: argparse.Namespace,
    samples: dict[str, list[dict[str, float]]],
    floor: list[tuple[float, float]],
    off_host: dict[str, list[str]],
) -> None:
    def series(name: str, key: str) -> list[float]:
        return [s[key] for s in samples[name]]

    floor_first = [f[0] for f in floor]
    floor_full = [f[1] for f in floor]
    print(
        f"{args.runs} runs each after {args.warmup} warm-up runs, interleaved "
        "(ms from the click; the floor's from the SDK call)"
    )
    common.table(
        ["", "median", "p90", "min", "max"],
        [
            ["SDK first content token (floor)", *stats(floor_first)],
            ["app: first text visible", *stats(series("app", "first"))],
            ["gradio: first text visible", *stats(series("gradio", "first"))],
            ["SDK end of stream (floor)", *stats(floor_full)],
            ["app: full reply visible", *stats(series("app", "full"))],
            ["gradio: full reply visible", *stats(series("gradio", "full"))],
        ],
    )
    for name in samples:
        for key in ("first", "full"):
            missing = len(samples[name]) - len(known(series(name, key)))
            if missing:
                print(f"  ({name}: {missing} runs never showed the {key} text in time)")

    print("\noverhead over the floor (app or gradio figure - SDK figure), and the ratio")
    rows = []
    for key, label, base in (
        ("first", "first text", floor_first),
        ("full", "full reply", floor_full),
    ):
        row = [label]
        for pick in (common.median, lambda v: common.percentile(v, 90)):
            app_over = pick(known(series("app", key))) - pick(base)
            gradio_over = pick(known(series("gradio", key))) - pick(base)
            row += [common.ms(app_over), common.ms(gradio_over), ratio(app_over, gradio_over)]
        rows.append(row)
    common.table(
        [
            "",
            "app median",
            "gradio median",
            "app/gradio",
            "app p90",
            "gradio p90",
            "app/gradio",
        ],
        rows,
    )

    print("\nwhen Send comes back (ms from the click)")
    common.table(
        ["", "median", "p90", "min", "max"],
        [
            [f"{name}: {label}", *stats(series(name, key))]
            for name in samples
            for key, label in (("question", "question shown"), ("emptied", "input box emptied"))
        ],
    )
    costs = ", ".join(
        f"{name} {common.ms(common.median(series(name, 'cost')))}" for name in samples
    )
    print(f"  the probe's own checks in the page, per run (median ms): {costs}")
    for name, urls in off_host.items():
        if urls:
            print(f"  {name}: {len(urls)} requests left 127.0.0.1, e.g. {urls[0][:100]}")
    print(
        "\noverhead = median (or p90) of the page figure - the same statistic of the SDK's; "
        "app/gradio = app overhead / gradio overhead (below 1: the app adds less)"
    )


if __name__ == "__main__":
    main()
