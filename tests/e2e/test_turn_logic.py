"""The page's own turn logic (assets/chat.js `window.chatTurn`), held to the server's rules.

What the page still decides alone: whether a message may be sent at all (with the server's own
set of blank characters, from the page config) and how the browser's copy of a conversation is
kept when the server keeps no records (the server titles it when it reads it). The rules the
turn's plan follows (what a retry resends, where the context starts) are the server's; the
tests of them here hold the page's request to the server's plan. The JavaScript runs in the
real page in Chromium, many cases per `page.evaluate`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import plotly.io.json as plotly_json
import pytest
from playwright.sync_api import Browser, Page

from api.schemas import BadRequest, Entry, parse_chat_request
from services.chat import ChatService
from services.conversation import retry_question
from services.input_rules import blank_characters
from services.plan import context_tokens, next_history_start, plan_request, plan_turn
from services.records import browser as browser_records
from services.records.browser import BrowserRecords
from tests.turns import MODEL, error, reply, service, user, window_service

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def page(browser: Browser, app_server) -> Iterator[Page]:
    """One page for the whole module: the logic is pure, nothing it does changes the page."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(app_server.url)
    page.wait_for_function("Boolean(window.chatTurn && window.chatTurn.inputProblem)")
    yield page
    context.close()


def run(page: Page, function: str, cases: list) -> list:
    """`window.chatTurn[function](...args)` for every args list in `cases`, in one round trip.

    Values cross as JSON text, so `undefined` and `null` stay what JSON makes of them.
    """
    return page.evaluate(
        """([name, cases]) => JSON.parse(cases).map((args) => {
            const out = window.chatTurn[name](...args);
            return out === undefined ? "<undefined>" : out;
        })""",
        [function, json.dumps(cases, ensure_ascii=False)],
    )


def as_json(value) -> object:
    """Dash components as the browser gets them."""
    return json.loads(plotly_json.to_json_plotly(value))


# --------------------------------------------------------------------------- inputProblem


def server_problem(text: str, max_chars: int) -> str | None:
    """What the stream route says of `text` as a page turn's question (api/schemas.py)."""
    body = json.dumps({"turn": {"question": text}}).encode()
    try:
        parse_chat_request(body, "application/json", max_input_chars=max_chars, models=[MODEL])
    except BadRequest as exc:
        if exc.message == "The message is empty.":
            return "empty"
        if exc.message.startswith("The message is longer than"):
            return "too_long"
        raise
    return None


INPUT_CASES = [
    ("", 10),
    ("   ", 10),
    ("\n\t \n", 10),
    ("\u3000\xa0 ", 10),  # ideographic and no-break spaces are blank for both
    ("x" * 10, 10),
    ("x" * 11, 10),
    ("  x  ", 1),  # blanks count: 5 characters
    ("你好" * 5, 10),  # characters, not bytes
    ("你好" * 5 + "!", 10),
    ("😀" * 10, 10),  # astral: 2 UTF-16 units each in JS, 1 code point in Python
    ("😀" * 11, 10),
    ("👨‍👩‍👧", 5),  # one glyph, 5 code points
    ("👨‍👩‍👧", 4),
    ("🇫🇷 Paris", 8),
    ("🇫🇷 Paris", 7),
    ("e\u0301" * 5, 10),  # combining accents count as characters of their own
    ("e\u0301" * 5, 9),
    ("\u200b", 10),  # a zero-width space is not whitespace for either
    ("line one\nline two", 17),
    ("line one\nline two", 16),
    ("x" * 8000, 8000),
    ("x" * 8001, 8000),
]


def config(limit: int) -> dict:
    """The part of the page's config (components/turn.py page_config) inputProblem reads."""
    return {"blankCharacters": blank_characters(), "maxInputChars": limit}


def test_input_problem_agrees_with_the_server(page):
    got = run(page, "inputProblem", [[text, config(limit)] for text, limit in INPUT_CASES])
    expected = [server_problem(text, limit) for text, limit in INPUT_CASES]
    assert got == expected
    # The rules themselves, so an agreement on something wrong fails too.
    assert expected[:4] == ["empty"] * 4
    assert expected[4:6] == [None, "too_long"]
    assert expected[9:11] == [None, "too_long"]


def test_no_text_at_all_is_empty(page):
    assert run(page, "inputProblem", [[None, config(10)], ["", config(10)]]) == ["empty", "empty"]
    got = page.evaluate("(page) => window.chatTurn.inputProblem(undefined, page)", config(10))
    assert got == "empty"


# JavaScript's trim() and Python's str.strip() disagree on what is blank: "\x1c".."\x1f" and
# "\x85" are whitespace to Python only, "\ufeff" to JavaScript only. The page must refuse
# exactly what the server refuses (else a 400 shows as a failed reply, not the "empty" notice).
@pytest.mark.parametrize("text", ["\x1c", "\x85", "\ufeff", "\u3000\u2028 \t", "\u200b"])
def test_input_problem_agrees_with_the_server_on_unusual_blanks(page, text):
    assert run(page, "inputProblem", [[text, config(10)]]) == [server_problem(text, 10)]


# --------------------------------------------------------------------------- retryPoint


def retry_point(history: list[dict]) -> list[dict] | None:
    """The rule the server used (services/conversation.py retry_point, now done by the page):
    the history up to and including the failed question; the failed attempt (its error and a
    reply cut part-way) is dropped. None when the history does not end in a failed question."""
    kept = list(history)
    if kept and kept[-1].get("role") == "error":
        kept.pop()
    if kept and kept[-1].get("role") == "assistant" and kept[-1].get("status") == "cut":
        kept.pop()
    if not kept or kept[-1].get("role") != "user":
        return None
    return kept


def server_retry_point(history: list[dict]) -> list[dict] | None:
    """What a retry resends, by the server's rule: the thread up to the retried question."""
    if history and history[-1].get("role") == "user":
        return history  # unanswered: the "interrupted" notice asks it again
    if not history or history[-1].get("role") != "error":
        return None
    at = retry_question(history, len(history) - 1)
    return None if at is None else history[: at + 1]


def test_retry_point_cases():
    # The page's retryPoint is gone: the server puts the question's index on the retry button
    # (components/thread.py). Its rule still gives what the page's did.
    trailing_error = [user("q1"), reply("a1"), user("q2"), error()]
    cut = [user("q1"), reply("half an ans", status="cut"), error("stream_cut")]
    unanswered = [user("q1"), reply("a1"), user("q2")]
    nothing = [
        [],
        [user("q"), reply("a")],
        [user("q"), reply("a", status="stopped")],
        [error()],
        [user("q"), reply("a"), error()],
        [user("q"), reply("a", status="length")],
    ]

    got = [server_retry_point(h) for h in [trailing_error, cut, unanswered, *nothing]]

    assert got[:3] == [trailing_error[:3], [user("q1")], unanswered]
    assert got[3:] == [None] * len(nothing)


def random_entry(rng: random.Random, *, words: list[str]) -> dict:
    kind = rng.choices(["user", "assistant", "error"], weights=[5, 5, 2])[0]
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
    if kind == "user":
        return user(text)
    if kind == "error":
        return error(rng.choice(["timeout", "rate_limited", "stream_cut", "network"]))
    content = "" if rng.random() < 0.12 else text
    return reply(content, status=rng.choice(["done", "done", "cut", "stopped", "length"]))


WORDS = ["sleep", "water", "walk", "tea", "水", "早睡", "🍵", "rest", "calm", "light", "Paris"]


def random_history(rng: random.Random, size: int) -> list[dict]:
    return [random_entry(rng, words=WORDS) for _ in range(size)]


def test_retry_point_agrees_with_the_rule_on_random_threads():
    rng = random.Random(7)
    histories = [random_history(rng, rng.randint(0, 8)) for _ in range(400)]
    # A cut reply is always followed by its error (services/conversation.py record_result):
    # a thread that ends with one cannot happen, and offers no retry button.
    histories = [h for h in histories if not (h and h[-1].get("status") == "cut")]

    got = [server_retry_point(h) for h in histories]

    expected = [retry_point(h) for h in histories]
    assert got == expected
    assert sum(e is not None for e in expected) > 50  # the cases are not all "nothing to retry"


# --------------------------------------------------------------------------- keepConversation


def save_in_python(local, conversation, history, now, monkeypatch, persona=None) -> dict:
    monkeypatch.setattr(browser_records, "_now", lambda: now)
    store = BrowserRecords(local)
    store.save_history(conversation, history, persona)
    return store.data


PERSONAS = [
    None,
    {"persona": "wellness", "custom_prompt": None},
    {"persona": "custom", "custom_prompt": "You are a pirate."},
]


def test_keep_conversation_agrees_with_browser_records(page, monkeypatch):
    rng = random.Random(11)
    cid = "c0ffee" * 5 + "00"
    other = {"title": "Another one", "updated_at": "2026-01-01T00:00:00+00:00", "history": []}
    cases = []
    for step in range(120):
        size = rng.randint(0, 6)
        history = random_history(rng, size)
        if rng.random() < 0.3:
            history.insert(0, user(rng.choice(["How long should I sleep?", "  ", "多少小时"])))
        local = {}
        if rng.random() < 0.5:
            local["other"] = other
        if rng.random() < 0.6:  # already kept: with a title or not, same length or not
            old = history if rng.random() < 0.4 else history[: rng.randint(0, len(history))]
            local[cid] = {
                "title": rng.choice(["", "", "Renamed by the user"]),
                "updated_at": "2026-02-02T00:00:00+00:00",
                "history": old,
            }
            if rng.random() < 0.3:  # its persona kept already
                local[cid].update(persona="teacher", custom_prompt=None)
        persona = rng.choice(PERSONAS)
        cases.append([local, cid, history, f"2026-03-03T00:00:{step % 60:02d}+00:00", persona])

    got = run(page, "keepConversation", cases)

    expected = [save_in_python(*case[:4], monkeypatch, case[4]) for case in cases]
    assert got == expected
    moved = [e[cid]["updated_at"] != "2026-02-02T00:00:00+00:00" for e in expected]
    assert any(moved) and not all(moved)
    kept = [e[cid].get("persona") for e in expected]
    assert {None, "teacher", "wellness", "custom"} <= set(kept)  # every case happened


def test_keep_conversation_fixes_the_persona_with_a_question(page):
    cid = "cd" * 16
    wellness = {"persona": "wellness", "custom_prompt": None}
    steps = [([], wellness), ([user("q")], wellness), ([user("q"), reply("a")], None)]
    local = {}
    for history, persona in steps:
        local = run(page, "keepConversation", [[local, cid, history, "t", persona]])[0]
    assert local[cid]["persona"] == "wellness"
    # Another persona later (the picker of another conversation) changes nothing.
    teacher = {"persona": "teacher", "custom_prompt": None}
    local = run(page, "keepConversation", [[local, cid, [user("q")], "t", teacher]])[0]
    assert local[cid]["persona"] == "wellness"
    assert BrowserRecords(local).fixed_persona("browser", cid) == {
        "persona": "wellness",
        "custom_prompt": None,
        "started": True,
    }
    # An imported conversation (kept without a persona) is opened, then continued: the
    # persona of its next question is kept.
    imported = {cid: {"title": "", "updated_at": "t", "history": [user("q"), reply("a")]}}
    opened = run(page, "keepConversation", [[imported, cid, [user("q"), reply("a")], "t", teacher]])
    assert "persona" not in opened[0][cid]
    grown = [user("q"), reply("a"), user("more")]
    continued = run(page, "keepConversation", [[imported, cid, grown, "t", teacher]])
    assert continued[0][cid]["persona"] == "teacher"


def test_keep_conversation_moves_a_conversation_only_when_its_length_changes(page, monkeypatch):
    """A page's whole life with one conversation, step by step, in both."""
    cid = "ab" * 16
    steps = [
        ([], "t0"),
        ([user("First line\nsecond line")], "t1"),
        ([user("First line\nsecond line"), reply("an answer")], "t2"),
        ([user("First line\nsecond line"), reply("an answer")], "t3"),  # reopened: no move
        ([user("First line\nsecond line"), reply("an answer"), user("more")], "t4"),
    ]
    local_js, local_py, seen = {}, {}, []
    for history, now in steps:
        local_js = run(page, "keepConversation", [[local_js, cid, history, now]])[0]
        local_py = save_in_python(local_py, cid, history, now, monkeypatch)
        assert local_js == local_py
        seen.append(local_js[cid]["updated_at"])
    assert seen == ["t0", "t1", "t2", "t2", "t4"]
    # Untitled in the browser; the server titles it when it reads the list.
    assert local_js[cid]["title"] == ""
    found = BrowserRecords(local_js).conversation("browser", cid)
    assert found["title"] == "First line"


# --------------------------------------------------------------------------- historyStart


def make_service(tmp: Path, rounds: int, window: int | None) -> ChatService:
    if window is None:
        return service(max_history_rounds=rounds)
    return window_service(tmp, window, max_history_rounds=rounds)


def slim(entry: dict) -> dict:
    """What startTurn puts in the request for an entry, as the route reads it (Entry)."""
    out = {"role": entry["role"]}
    if entry.get("content"):
        out["content"] = entry["content"]
    if entry.get("status"):
        out["status"] = entry["status"]
    return Entry.model_validate(out).model_dump()


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("providers")
    # A 400-token window (a quarter kept for the reply) holds a few of the random rounds, so
    # the window drops rounds too, not only the round cap.
    return {
        (rounds, window): make_service(tmp, rounds, window)
        for rounds in (1, 2, 3, 6)
        for window in (None, 400)
    }


def long_history(rng: random.Random, size: int, stretch: float = 0.3) -> list[dict]:
    history = random_history(rng, size)
    for entry in history:
        if entry.get("content") and rng.random() < stretch:
            entry["content"] = (entry["content"] + " ") * rng.randint(3, 9)
        if entry["role"] == "user" and rng.random() < 0.3:
            entry["context_from"] = rng.randint(0, size)  # stored by an earlier turn; ignored
    return history


def test_the_history_tail_plans_as_the_whole_thread(services):
    """next_history_start + plan_turn on the tail == plan_request on the whole thread.

    The page sends its thread from where the server's last final event said (history_start).
    """
    rng = random.Random(2026)
    cases = []
    for _ in range(500):
        rounds, window = rng.choice(sorted(services, key=str))
        history = long_history(rng, rng.randint(0, 18), stretch=0.6)
        multi_turn = rng.random() < 0.85
        choices = {
            "multi_turn": multi_turn,
            "model": rng.choice([None, MODEL]),
            "persona_id": rng.choice([None, "general", "teacher", "custom"]),
            "custom_prompt": rng.choice([None, "Be brief."]),
            "lang": rng.choice(["en", "zh-cn"]),
            "max_tokens": rng.choice([None, 64]),
        }
        question = rng.choice(["And now?", "再说一遍？", "🍵?"])
        cases.append((services[rounds, window], rounds, history, question, choices))

    starts = [next_history_start(h, r) for _, r, h, _, _ in cases]

    differences, moved, trimmed = [], 0, 0
    for (svc, rounds, history, question, choices), start in zip(cases, starts, strict=True):
        assert 0 <= start <= len(history)
        tail = [slim(entry) for entry in history[start:]]
        whole = plan_request(svc, history, question, **choices)
        turn = plan_turn(svc, tail, question, history_start=start, **choices)
        if (turn.messages, turn.context_from) != (whole.messages, whole.context_from):
            differences.append((rounds, history, start, whole.context_from, turn.context_from))
        # The route's context_tokens for the next request, from the tail and the new round:
        # always counted as with multi-turn on (the page adds it only when the switch is on).
        after = [user(question), reply("An answer to it.")]
        on = {**choices, "multi_turn": True}
        assert context_tokens(svc, [*tail, *after], **on) == context_tokens(
            svc, [*history, *after], **on
        )
        moved += start > 0
        trimmed += whole.context_from > start
    assert differences == []
    # The cases reach what matters: tails that start later, windows that drop more.
    assert moved > 60 and trimmed > 25, (moved, trimmed)


def test_history_start_rules():
    q = [user("q1"), reply("a1"), user("q2"), error(), user("q3"), reply(""), user("q4")]
    rounds3 = [user("q1"), reply("a1"), user("q2"), reply("a2"), user("q3"), reply("a3")]
    cases = [
        [[], 3],
        [rounds3, 3],  # all fit: 0
        [rounds3, 2],  # from q2
        [rounds3, 1],  # from q3
        [rounds3, 0],  # no round may go: the end
        [q, 5],
        [[user("u1"), user("u2"), reply("a")], 0],
        [[user("q1"), error()], 0],  # no complete round to leave out: 0, as the server says
        [[*rounds3, error(), user("q4"), reply("a4")], 1],
    ]
    assert [next_history_start(h, r) for h, r in cases] == [0, 0, 2, 4, 6, 0, 3, 0, 7]


# MAX_HISTORY_ROUNDS=0 (allowed: config.py ge=0) with no complete round yet (a first question
# that failed): nothing is left out, so nothing may be dimmed.
def test_no_rounds_allowed_and_no_round_yet_plans_as_the_whole_thread(tmp_path):
    svc = make_service(tmp_path, 0, None)
    history = [user("first try"), error()]
    choices = {
        "multi_turn": True,
        "model": None,
        "persona_id": None,
        "custom_prompt": None,
        "lang": "en",
        "max_tokens": None,
    }
    start = next_history_start(history, 0)

    tail = [slim(entry) for entry in history[start:]]
    turn = plan_turn(svc, tail, "again", history_start=start, **choices)

    whole = plan_request(svc, history, "again", **choices)
    assert turn.messages == whole.messages
    assert turn.context_from == whole.context_from
