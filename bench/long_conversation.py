"""Long conversation: a new question at turn N of a long thread, against one in a fresh chat.

    python bench/long_conversation.py [--turns 40] [--words 500] [--tokens 500] [--runs 10]

Starts the fake upstream (its own process) and `gunicorn chat_app:server` (shipped
gunicorn.conf.py, records on) on 127.0.0.1. Headless Chromium opens the page, which gives the
browser its identity cookie. With that cookie, one conversation of N turns per run is made
through the app, as the page makes them: the page's form of POST /api/chat/stream, turn after
turn, each reply ~`--words` words of its own (distinct made-up words: compression cannot hide
the growth). Reloaded, the page lists them in its sidebar; a user gets a long thread back on
screen by clicking it there, and so does each run.

Then, interleaved: a question in a fresh chat (the sidebar's New chat), and the same question
at turn N (click the next seeded conversation, wait until its N replies show, then ask), each
answered with `--tokens` tokens. The probe of bench/_probe.py times, from the click on Send:
the question shown, the input box emptied (when Send "comes back"), the first token visible,
the last token visible. Prints medians and p90s of both, and the ratio turn N / fresh. Numbers
only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import _common as common
import _probe as probe
from playwright.sync_api import expect, sync_playwright


@dataclass(frozen=True)
class AppPage:
    """All this script knows of the page."""

    send: str = "#chat-send-button"
    box: str = "#chat-input"
    # Holds the live reply (#chat-live-reply) and the finished ones.
    area: str = "#chat-messages"
    finished_reply: str = ".chat-message-assistant:not(.chat-message-live)"
    new_chat: str = "#sidebar-new-button"
    # A conversation in the sidebar, by its id.
    conversation: str = '.sidebar-item[data-conversation="{id}"] .sidebar-title'


PAGE = AppPage()
NAN = float("nan")
PAUSE_MS = 600  # a user's pause between typing and clicking (the size estimate lands)
SETTLE_MS = 300  # after a run: the trailing requests (the sidebar's list)
LOADED_SETTLE_MS = 500  # after a thread is drawn: what follows its loading (context marks)
MAX_HISTORY_ROUNDS = 10  # config.py's default: the page sends this many rounds at most
SEED_THREADS = 3


# --------------------------------------------------------------------------- seeding


def _history_start(history: list[dict], max_rounds: int) -> int:
    """assets/chat.js historyStart for a thread of complete rounds (question, reply)."""
    rounds = len(history) // 2
    return 0 if rounds <= max_rounds else 2 * (rounds - max_rounds)


def _ask(port: int, cookie: str, request: dict) -> tuple[str, dict]:
    """One page-form turn through the app: (the reply's text, the final event)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "application/json", "Cookie": cookie}
        conn.request("POST", "/api/chat/stream", json.dumps(request), headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"seeding: HTTP {response.status}: {response.read()[:300]!r}")
        text: list[str] = []
        while True:
            line = response.readline()
            if not line:
                raise RuntimeError("seeding: the stream ended without a final event")
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:])
            if event.get("done"):
                return "".join(text), event
            if "error" in event:
                raise RuntimeError(f"seeding: error event {event['error']}")
            if "delta" in event:
                text.append(event["delta"])
    finally:
        conn.close()


def seed_conversation(port: int, cookie: str, number: int, turns: int) -> tuple[str, str]:
    """A conversation of `turns` turns, made as the page makes them: (its id, its last reply)."""
    conversation = uuid.uuid4().hex  # the page names a new conversation itself
    history: list[dict] = []
    reply = ""
    for turn in range(turns):
        question = f"{common.SEED_MARK} conversation {number}, question {turn + 1}: and then?"
        start = _history_start(history, MAX_HISTORY_ROUNDS)
        request = {
            "turn": {
                "question": question,
                "history": history[start:],
                "history_start": start,
                "multi_turn": True,
            },
            "conversation_id": conversation,
            "lang": "en",
        }
        reply, final = _ask(port, cookie, request)
        conversation = (final.get("turn") or {}).get("conversation_id") or conversation
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    return conversation, reply


def seed(port: int, cookie: str, count: int, turns: int) -> list[tuple[str, str]]:
    """`count` conversations of `turns` turns, a few at a time."""
    made: list[tuple[str, str] | None] = [None] * count
    errors: list[BaseException] = []
    lock = threading.Lock()
    queue = list(range(count))

    def worker() -> None:
        while True:
            with lock:
                if not queue or errors:
                    return
                number = queue.pop(0)
            try:
                made[number] = seed_conversation(port, cookie, number + 1, turns)
            except BaseException as exc:  # reported in the main thread
                with lock:
                    errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(min(SEED_THREADS, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [m for m in made if m is not None]


# --------------------------------------------------------------------------- the runs


STREAM_ROUTE = "/api/chat/stream"


def ask(page: Any, question: str, tokens: int, timeout_ms: float) -> dict[str, float]:
    """Type, pause, click Send; seconds from the click to each mark, and the stream request's
    timing (`stream_*`) and body size (`stream_up`, bytes)."""
    sent: list[int] = []

    def note(request: Any) -> None:
        if STREAM_ROUTE in request.url and request.method == "POST":
            sent.append(len(request.post_data_buffer or b""))

    page.fill(PAGE.box, question)
    page.wait_for_timeout(PAUSE_MS)
    probe.arm(
        page,
        click=PAGE.send,
        area=PAGE.area,
        box=PAGE.box,
        marks={
            "question": question,
            "first": common.first_token(tokens),
            "full": common.LAST_TOKEN,
        },
    )
    page.on("request", note)
    try:
        page.click(PAGE.send)
        probe.wait_for(page, "full", timeout_ms)
        page.locator(PAGE.send).wait_for(state="visible", timeout=timeout_ms)
        page.wait_for_timeout(SETTLE_MS)
    finally:
        page.remove_listener("request", note)
    timing = probe.request_timing(page, STREAM_ROUTE)
    return {
        **probe.result(page),
        **{f"stream_{key}": value for key, value in timing.items()},
        "stream_up": float(sent[-1]) if sent else NAN,
    }


def fresh_run(page: Any, index: int, tokens: int, timeout_ms: float) -> dict[str, float]:
    page.click(PAGE.new_chat)
    expect(page.locator(PAGE.finished_reply)).to_have_count(0, timeout=15_000)
    page.wait_for_function(
        "([area, text]) => window.__probe.shown(area, text) === 0",
        arg=[PAGE.area, common.first_token(tokens)],
    )
    page.wait_for_timeout(SETTLE_MS)
    return ask(page, question_text(index), tokens, timeout_ms)


def long_run(
    page: Any, index: int, tokens: int, timeout_ms: float, seeded: tuple[str, str], turns: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Open a seeded conversation from the sidebar, then ask; (times, what was on screen)."""
    conversation, last_reply = seeded
    item = PAGE.conversation.format(id=conversation)
    tail = " ".join(last_reply.split()[-3:])  # the thread's last words: it is all drawn
    probe.arm(page, click=item, area=PAGE.area, marks={"loaded": tail})
    page.click(item)
    probe.wait_for(page, "loaded", 60_000)
    loaded = probe.result(page)["loaded"]
    expect(page.locator(PAGE.finished_reply)).to_have_count(turns, timeout=60_000)
    page.wait_for_timeout(LOADED_SETTLE_MS)
    shown = page.evaluate(
        """(area) => {
            const el = document.querySelector(area);
            return { chars: el.textContent.length, elements: el.querySelectorAll("*").length };
        }""",
        PAGE.area,
    )
    times = ask(page, question_text(index), tokens, timeout_ms)
    return times, {"loaded": loaded, **shown}


def question_text(index: int) -> str:
    return f"Benchmark question {index:03d}: what changes at this length?"


# --------------------------------------------------------------------------- numbers


def known(values: list[float]) -> list[float]:
    return [v for v in values if v == v]


def stats(values: list[float]) -> list[str]:
    values = known(values)
    if not values:
        return ["-"] * 4
    return [
        common.ms(common.median(values)),
        common.ms(common.percentile(values, 90)),
        common.ms(min(values)),
        common.ms(max(values)),
    ]


def ratio(long: list[float], fresh: list[float], p: float) -> str:
    a, b = known(long), known(fresh)
    if not a or not b:
        return "-"
    low = common.percentile(b, p)
    return f"{common.percentile(a, p) / low:.2f}" if low else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=40, help="turns of the long thread")
    parser.add_argument("--words", type=int, default=500, help="words per seeded reply")
    parser.add_argument(
        "--tokens", type=int, default=500, help="tokens of the measured replies (5 chars each)"
    )
    parser.add_argument("--delay-ms", type=float, default=common.DEFAULT_DELAY_MS)
    parser.add_argument("--runs", type=int, default=10, help="measured runs each (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="runs each before measuring")
    args = parser.parse_args()
    timer = common.Timer()
    timeout_ms = 30_000 + args.tokens * args.delay_ms

    with (
        common.upstream(args.tokens, args.delay_ms, seed_words=args.words) as up,
        common.app(up, records=True) as app,
        sync_playwright() as playwright,
    ):
        browser = common.launch_chromium(playwright)
        try:
            context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
            context.add_init_script(probe.PROBE)
            page = context.new_page()
            page.goto(app.url)
            page.wait_for_selector(PAGE.box, state="visible", timeout=60_000)
            cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies(app.url))
            count = args.warmup + args.runs
            common.header(
                f"long conversation: a question at turn {args.turns} against one in a fresh chat",
                args,
                [
                    up.describe(),
                    common.describe_app(app, records=True),
                    f"seeded: {count} conversations of {args.turns} turns, made through the app "
                    "(the page's form of /api/chat/stream, with this browser's identity cookie), "
                    f"~{args.words} words per reply; each run opens the next one from the sidebar",
                    f"browser: headless Chromium {browser.version}, 1100x760, en-US; the probe "
                    "of bench/_probe.py, times from the click on Send (performance.now)",
                    f"order: fresh chat, then turn {args.turns}; {args.warmup} warm-up rounds, "
                    f"then {args.runs} measured",
                ],
            )
            started = time.perf_counter()
            conversations = seed(app.port, cookie, count, args.turns)
            print(
                f"seeding took {time.perf_counter() - started:.1f} s "
                f"({count * args.turns} turns, {SEED_THREADS} at a time)\n",
                flush=True,
            )
            page.reload()
            page.wait_for_selector(PAGE.box, state="visible", timeout=60_000)
            for conversation, _ in conversations:
                page.wait_for_selector(PAGE.conversation.format(id=conversation), timeout=30_000)

            fresh: list[dict[str, float]] = []
            long: list[dict[str, float]] = []
            screens: list[dict[str, Any]] = []
            for index in range(count):
                f = fresh_run(page, 2 * index, args.tokens, timeout_ms)
                times, screen = long_run(
                    page, 2 * index + 1, args.tokens, timeout_ms, conversations[index], args.turns
                )
                if index >= args.warmup:
                    fresh.append(f)
                    long.append(times)
                    screens.append(screen)
            context.close()
        finally:
            browser.close()

    report(args, fresh, long, screens)
    timer.done()


def report(
    args: argparse.Namespace,
    fresh: list[dict[str, float]],
    long: list[dict[str, float]],
    screens: list[dict[str, Any]],
) -> None:
    n = args.turns
    keys = [
        ("question", "question shown"),
        ("emptied", "input box emptied"),
        ("first", "first text visible"),
        ("full", "full reply visible"),
    ]
    print(f"{args.runs} runs each after {args.warmup} warm-up runs, interleaved (ms from Send)")
    rows = []
    for name, samples in (("fresh chat", fresh), (f"turn {n}", long)):
        for key, label in keys:
            rows.append([f"{name}: {label}", *stats([s[key] for s in samples])])
    common.table(["", "median", "p90", "min", "max"], rows)
    for name, samples in (("fresh chat", fresh), (f"turn {n}", long)):
        for key, label in keys:
            missing = len(samples) - len(known([s[key] for s in samples]))
            if missing:
                print(f"  ({name}: {missing} runs without '{label}' in time)")

    print(f"\nratio turn {n} / fresh chat")
    common.table(
        ["", "medians", "p90s"],
        [
            [
                label,
                ratio([s[key] for s in long], [s[key] for s in fresh], 50),
                ratio([s[key] for s in long], [s[key] for s in fresh], 90),
            ]
            for key, label in keys
        ],
    )

    print("\nwhere the time goes (from the click; the stream request's Resource Timing, ms)")
    parts = [
        ("stream_start", "stream POST starts"),
        ("stream_first_byte", "its response starts (turn planned, recorded)"),
        ("first", "first text visible"),
        ("stream_end", "stream response ends"),
    ]
    rows = []
    for key, label in parts:
        for name, samples in (("fresh chat", fresh), (f"turn {n}", long)):
            rows.append([f"{name}: {label}", *stats([s[key] for s in samples])])
    common.table(["", "median", "p90", "min", "max"], rows)
    ups = [
        (name, known([s["stream_up"] for s in samples]))
        for name, samples in (("fresh chat", fresh), (f"turn {n}", long))
    ]
    sizes = ", ".join(f"{name} {common.median(v):,.0f}" for name, v in ups if v)
    print(f"  stream request body (bytes, median): {sizes}")
    costs = ", ".join(
        f"{name} {common.ms(common.median([s['cost'] for s in samples]))}"
        for name, samples in (("fresh chat", fresh), (f"turn {n}", long))
    )
    print(f"  the probe's own checks in the page, per run (median ms): {costs}")

    loaded = [s["loaded"] for s in screens]
    chars = [s["chars"] for s in screens]
    elements = [s["elements"] for s in screens]
    print(f"\nthe thread at turn {n}, before the question")
    common.table(
        ["", "median", "p90", "min", "max"],
        [["sidebar click -> its last reply shown (ms)", *stats(loaded)]],
    )
    if chars:
        print(
            f"  on screen: {common.median(chars):,.0f} characters of text in "
            f"{common.median(elements):,.0f} elements under {PAGE.area} (medians)"
        )
    print(
        "\nquestion shown / input box emptied: when Send comes back; "
        f"ratio = the turn-{n} statistic / the fresh chat's"
    )


if __name__ == "__main__":
    main()
