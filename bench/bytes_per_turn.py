"""Bytes per turn: what the browser sends and receives for one new message, by history length.

    python bench/bytes_per_turn.py [--turns 10,200] [--tokens 50] [--delay-ms 10]

Starts the fake upstream (its own process) and `gunicorn chat_app:server` (shipped
gunicorn.conf.py) on 127.0.0.1. One real message first gives the exact form in which the page
keeps a turn in local storage (Dash's `dcc.Store(storage_type="local")`: the data as JSON
under the store's id, and `<id>-timestamp`). For each history length, a fresh browser profile
gets that many such turns written into local storage before the page loads. Then one new
message is typed, sent and answered, and every request it causes, from typing to idle (Dash
callbacks, the reply's stream, anything else), is recorded with CDP Network events: bytes up
(request line and headers, body) and bytes down (as received, headers included). Numbers only.
"""

from __future__ import annotations

import argparse
import json
import random

import _common as common
from playwright.sync_api import expect, sync_playwright

HISTORY_KEY = "chat-history-store"  # components/ids.py HISTORY_STORE
CONVERSATION_KEY = "chat-conversation-store"  # components/ids.py CONVERSATION_STORE
FINAL = ".chat-message-assistant:not(.chat-message-live)"
QUESTION = "What is the difference between a process and a thread?"


def wait_idle(page, replies: int) -> None:
    expect(page.locator(FINAL)).to_have_count(replies, timeout=60_000)
    expect(page.locator("#chat-send-button")).to_be_visible(timeout=30_000)
    expect(page.locator("#chat-stop-button")).to_be_hidden()


def template_turn(browser, url: str) -> tuple[list[dict], list[str]]:
    """One real turn as the page stores it: (its history entries, the local storage keys)."""
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(".chat-welcome", timeout=30_000)
        page.fill("#chat-input", QUESTION)
        page.click("#chat-send-button")
        wait_idle(page, 1)
        page.wait_for_timeout(500)
        stored = page.evaluate(
            """() => Object.fromEntries(Array.from({ length: localStorage.length }, (_, i) =>
                [localStorage.key(i), localStorage.getItem(localStorage.key(i))]))"""
        )
    finally:
        context.close()
    history = json.loads(stored[HISTORY_KEY])
    if f"{HISTORY_KEY}-timestamp" not in stored:
        raise RuntimeError(f"no {HISTORY_KEY}-timestamp in local storage: {sorted(stored)}")
    roles = [entry.get("role") for entry in history]
    if roles != ["user", "assistant"]:
        raise RuntimeError(f"unexpected stored turn: {roles}")
    return history, sorted(stored)


# Random words for the seeded turns (a fixed seed per history length, so runs compare).
VOCABULARY = [
    *[
        "the",
        "model",
        "reply",
        "question",
        "answer",
        "stream",
        "token",
        "browser",
        "server",
        "request",
        "history",
        "context",
    ],
    *[
        "python",
        "dash",
        "callback",
        "page",
        "thread",
        "message",
        "user",
        "assistant",
        "system",
        "persona",
        "cost",
        "limit",
    ],
    *[
        "time",
        "data",
        "store",
        "layout",
        "render",
        "network",
        "proxy",
        "azure",
        "openai",
        "ollama",
        "gateway",
        "record",
    ],
]


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(count))


def seeded_history(template: list[dict], turns: int) -> list[dict]:
    """`turns` rounds shaped exactly like the template's, each with its own text.

    Distinct text matters: identical copies would compress to almost nothing and hide how
    the bytes grow with a real conversation.
    """
    user, assistant = template
    rng = random.Random(turns)
    history = []
    for i in range(turns):
        asked = {k: v for k, v in user.items() if k != "context_from"}
        asked["content"] = f"Question {i + 1}: {_words(rng, 12)}?"
        answer = dict(assistant)
        answer["content"] = _words(rng, max(1, len(assistant["content"].split())))
        history += [asked, answer]
    return history


def _short(prop_id: str) -> str:
    """`{"index":"3f2a…","type":"sidebar-item"}.n_clicks` -> `sidebar-item[*].n_clicks`."""
    if not prop_id.startswith("{"):
        return prop_id
    ident, _, prop = prop_id.rpartition(".")
    try:
        kind = json.loads(ident).get("type", "?")
    except ValueError:
        return prop_id
    return f"{kind}[*].{prop}"


def label(transfer: common.Transfer) -> str:
    """A request's name: the Dash callback's trigger and outputs, or the method and path."""
    if "/_dash-update-component" in transfer.url and transfer.post_data:
        try:
            body = json.loads(transfer.post_data)
        except ValueError:
            return transfer.path
        outputs = [
            _short(part.split("@")[0])
            for part in body.get("output", "").strip(".").split("...")
            if part
        ]
        trigger = ",".join(_short(p) for p in body.get("changedPropIds") or []) or "(initial)"
        more = f" +{len(outputs) - 1}" if len(outputs) > 1 else ""
        return f"cb {trigger} -> {outputs[0] if outputs else '?'}{more}"
    return f"{transfer.method} {transfer.path}"


def one_turn(browser, url: str, history: list[dict]) -> tuple[list[common.Transfer], int]:
    """Load the page with `history` stored, send one message; (its requests, stored size)."""
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(".chat-welcome", timeout=30_000)
        stored = json.dumps(history, ensure_ascii=False, separators=(",", ":"))
        page.evaluate(
            """([key, convKey, value]) => {
                localStorage.setItem(key, value);
                localStorage.setItem(key + "-timestamp", String(Date.now()));
                localStorage.removeItem(convKey);
                localStorage.removeItem(convKey + "-timestamp");
            }""",
            [HISTORY_KEY, CONVERSATION_KEY, stored],
        )
        network = common.NetworkLog(context, page)
        page.reload()
        turns = len(history) // 2
        expect(page.locator(".chat-message-user")).to_have_count(turns, timeout=60_000)
        expect(page.locator(FINAL)).to_have_count(turns, timeout=60_000)
        network.wait_quiet(page, quiet=1.0)

        network.clear()  # from here on: the new turn only
        page.fill("#chat-input", QUESTION)
        page.wait_for_timeout(700)  # a pause before sending: the typing estimate lands
        page.click("#chat-send-button")
        wait_idle(page, turns + 1)
        network.wait_quiet(page, quiet=1.0)
        transfers = network.completed()
        for transfer in transfers:
            network.post_data(transfer)
        size = page.evaluate(f"() => (localStorage.getItem({HISTORY_KEY!r}) || '').length")
    finally:
        context.close()
    return transfers, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", default="10,200", help="comma-separated history lengths")
    parser.add_argument("--tokens", type=int, default=common.DEFAULT_TOKENS)
    parser.add_argument("--delay-ms", type=float, default=common.DEFAULT_DELAY_MS)
    args = parser.parse_args()
    lengths = [int(n) for n in args.turns.split(",") if n.strip()]
    timer = common.Timer()

    summary = []
    with (
        common.upstream(args.tokens, args.delay_ms) as up,
        common.app(up, records=True) as app,
        sync_playwright() as playwright,
    ):
        browser = common.launch_chromium(playwright)
        try:
            template, keys = template_turn(browser, app.url)
            turn_bytes = len(json.dumps(template, ensure_ascii=False, separators=(",", ":")))
            common.header(
                "bytes per turn: one new message at N turns of stored history",
                args,
                [
                    up.describe(),
                    common.describe_app(app, records=True),
                    f"browser: headless Chromium {browser.version}; history seeded into local "
                    f"storage ({', '.join(keys)}), each turn shaped like one real turn "
                    f"({turn_bytes} bytes of JSON) with its own random words",
                    "counted: every request from typing the message to idle; up = request "
                    "line + headers + body, down = bytes received (headers + body, as sent)",
                ],
            )
            for turns in lengths:
                history = seeded_history(template, turns)
                transfers, stored = one_turn(browser, app.url, history)
                rows = []
                for t in transfers:
                    rows.append(
                        [
                            label(t)[:80],
                            t.status_text,
                            t.headers_up,
                            t.body_up,
                            t.headers_up + t.body_up,
                            t.bytes_down,
                        ]
                    )
                up_total = sum(t.headers_up + t.body_up for t in transfers)
                up_body = sum(t.body_up for t in transfers)
                down_total = sum(t.bytes_down for t in transfers)
                rows.append(["total", "", "", up_body, up_total, down_total])
                print(
                    f"history: {turns} turns ({stored:,} bytes in local storage); "
                    f"{len(transfers)} requests for one new message (bytes)"
                )
                common.table(["request", "status", "up hdrs", "up body", "up", "down"], rows)
                print(flush=True)
                summary.append([turns, len(transfers), up_body, up_total, down_total, stored])
        finally:
            browser.close()

    print("summary (bytes)")
    common.table(
        ["turns", "requests", "up body", "up", "down", "stored history"],
        [[*row[:2], *(f"{v:,}" for v in row[2:])] for row in summary],
    )
    print(
        "status * : Chromium reported the request as failed after its response headers came "
        "(a 204 from a callback that changed nothing); its headers are counted"
    )
    print(
        "targets: bytes down do not grow with history; bytes up carry the context once "
        "(the stored history is the context's size)"
    )
    timer.done()


if __name__ == "__main__":
    main()
