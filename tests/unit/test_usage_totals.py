"""The page's running totals (services/pricing.py add_usage, price_usage) and its context size
(services/plan.py context_tokens), held to what they stand in for.

The page no longer sends its thread to price it: it keeps per-model token sums, updated by each
reply. Those sums must price the conversation exactly as `conversation_totals` prices the whole
thread, however the thread was split into turns and whatever junk its usage holds (it comes back
from the browser). The context size it keeps must make its estimate the real size of the next
request.
"""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from config import Settings
from services.chat import ChatService
from services.plan import context_tokens, plan_request
from services.pricing import Price, PriceTable, add_usage, conversation_totals, cost, price_usage
from services.tokens import count_messages
from tests.turns import window_service

TABLE = PriceTable(
    {
        "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.60"), "USD"),
        "gpt-4o": Price(Decimal("2.50"), Decimal("10.00"), "USD"),
        "gpt-4o-2024-05-13": Price(Decimal("5.00"), Decimal("15.00"), "USD"),
        "deepseek-chat": Price(Decimal("2.0"), Decimal("8.0"), "CNY"),
        "llama3.1": Price(Decimal(0), Decimal(0), "USD"),
        "odd-price": Price(Decimal("0.0000037"), Decimal("123.456789"), "EUR"),
    }
)
# Priced exactly, priced by its undated entry, priced in another currency, unpriced, and names
# that are not models at all.
MODELS = [
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4o-2024-05-13",
    "gpt-4o-2024-08-06",
    "openai/gpt-4o-mini",
    "deepseek-chat",
    "llama3.1",
    "odd-price",
    "qwen2.5",
    "",
    None,
    7,
]
# What a usage count can be after a trip through the browser.
COUNTS = st.one_of(
    st.integers(min_value=0, max_value=2_000_000),
    st.integers(min_value=-5, max_value=-1),
    st.just(10**15),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.none(),
)
USAGE = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "prompt_tokens": COUNTS,
            "completion_tokens": COUNTS,
            "total_tokens": COUNTS,
            "estimated": st.booleans(),
        },
    ),
)
ENTRY = st.one_of(
    st.fixed_dictionaries({"role": st.just("user"), "content": st.text(max_size=5)}),
    st.fixed_dictionaries({"role": st.just("error"), "kind": st.just("timeout")}),
    st.fixed_dictionaries(
        {"role": st.just("assistant"), "content": st.text(max_size=5)},
        optional={
            "model": st.sampled_from(MODELS),
            "usage": USAGE,
            "status": st.sampled_from(["done", "cut", "stopped", "length"]),
        },
    ),
    # Usage on an entry that is not a reply does not count.
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "error"]), "model": st.just("gpt-4o"), "usage": USAGE}
    ),
)


def through_the_browser(totals: dict) -> dict:
    """The USAGE_TOTALS store keeps JSON."""
    return json.loads(json.dumps(totals))


def totals_by_turns(history: list[dict], cuts: list[int]) -> dict:
    """What the page keeps: sums updated turn by turn, from nothing."""
    totals: dict = {}
    bounds = [0, *sorted(c % (len(history) + 1) for c in cuts), len(history)]
    for start, end in pairwise(bounds):
        totals = through_the_browser(add_usage(totals, history[start:end]))
    return totals


@settings(max_examples=400, deadline=None)
@given(history=st.lists(ENTRY, max_size=25), cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_the_running_sums_price_a_conversation_as_its_whole_thread(history, cuts):
    totals = totals_by_turns(history, cuts)

    assert price_usage(totals, TABLE) == priced_entry_by_entry(history)
    assert conversation_totals(history, TABLE) == priced_entry_by_entry(history)


def priced_entry_by_entry(history: list[dict]) -> dict:
    """The reference: every valid assistant entry priced on its own, then summed."""
    prompt_total = completion_total = 0
    costs: dict = {}
    unpriced = set()
    for entry in history:
        usage, model = entry.get("usage"), entry.get("model")
        if entry.get("role") != "assistant" or not isinstance(usage, dict) or not model:
            continue
        if not isinstance(model, str):
            continue
        prompt, completion = (
            value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
            for value in (usage.get("prompt_tokens"), usage.get("completion_tokens"))
        )
        prompt_total += prompt
        completion_total += completion
        price = TABLE.price(model)
        if price is None:
            unpriced.add(model)
            continue
        costs[price.currency] = costs.get(price.currency, Decimal(0)) + cost(
            prompt, completion, price
        )
    return {
        "prompt_tokens": prompt_total,
        "completion_tokens": completion_total,
        "total_tokens": prompt_total + completion_total,
        "cost": costs,
        "unpriced_models": sorted(unpriced),
    }


@given(history=st.lists(ENTRY, max_size=25), cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_the_sums_do_not_depend_on_how_the_thread_was_split(history, cuts):
    assert totals_by_turns(history, cuts) == through_the_browser(add_usage({}, history))


@given(history=st.lists(ENTRY, max_size=10))
def test_add_usage_leaves_its_arguments_alone(history):
    before = {"gpt-4o": {"prompt_tokens": 3, "completion_tokens": 4}}
    snapshot, thread = json.dumps(before), json.dumps(history)

    add_usage(before, history)

    assert json.dumps(before) == snapshot and json.dumps(history) == thread


def reply(model, usage) -> dict:
    return {"role": "assistant", "content": "a", "model": model, "usage": usage, "status": "done"}


def test_several_models_and_currencies_worked_out_by_hand():
    history = [
        {"role": "user", "content": "q"},
        reply("gpt-4o-mini", {"prompt_tokens": 1_000_000, "completion_tokens": 500_000}),
        reply("gpt-4o-mini", {"prompt_tokens": 2_000_000, "completion_tokens": -3}),
        reply("deepseek-chat", {"prompt_tokens": 1_000_000, "completion_tokens": True}),
        reply("gpt-4o-2024-08-06", {"prompt_tokens": "12", "completion_tokens": 100_000}),
        reply("qwen2.5", {"prompt_tokens": 10, "completion_tokens": 20}),
        reply("", {"prompt_tokens": 99, "completion_tokens": 99}),
        reply("gpt-4o", None),
        {"role": "error", "kind": "timeout", "model": "gpt-4o", "usage": {"prompt_tokens": 5}},
    ]
    totals = add_usage({}, history[:3])
    totals = add_usage(through_the_browser(totals), history[3:])

    assert totals == {
        "gpt-4o-mini": {"prompt_tokens": 3_000_000, "completion_tokens": 500_000},
        "deepseek-chat": {"prompt_tokens": 1_000_000, "completion_tokens": 0},
        "gpt-4o-2024-08-06": {"prompt_tokens": 0, "completion_tokens": 100_000},
        "qwen2.5": {"prompt_tokens": 10, "completion_tokens": 20},
    }
    priced = price_usage(totals, TABLE)
    # gpt-4o-mini: 3 x 0.15 + 0.5 x 0.60 = 0.75 USD; gpt-4o (undated entry): 0.1 x 10 = 1 USD;
    # deepseek-chat: 1 x 2.0 = 2 CNY; qwen2.5 is not in the table.
    assert priced == {
        "prompt_tokens": 4_000_010,
        "completion_tokens": 600_020,
        "total_tokens": 4_600_030,
        "cost": {"USD": Decimal("1.75"), "CNY": Decimal("2")},
        "unpriced_models": ["qwen2.5"],
    }
    assert priced == conversation_totals(history, TABLE)


def test_no_usage_at_all_is_nothing_to_price():
    assert add_usage(None, []) == {}
    assert price_usage({}, TABLE) == price_usage(None, TABLE) == conversation_totals([], TABLE)
    assert price_usage({}, TABLE)["total_tokens"] == 0


# --------------------------------------------------------------------------- context_tokens


def service(**overrides) -> ChatService:
    values: dict = {"openai_api_key": "k", "openai_base_url": "http://127.0.0.1:9/v1"}
    values.update(overrides)
    return ChatService(Settings(_env_file=None, **values))


SERVICES = {rounds: service(max_history_rounds=rounds) for rounds in (1, 3, 10)}
WORDS = ["sleep", "水", "walk", "🍵", "rest", "breath", "calm", "light", "食物", "early", ""]
TEXT = st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)
THREAD_ENTRY = st.one_of(
    st.builds(lambda text: {"role": "user", "content": text}, TEXT),
    st.builds(
        lambda text, status: {"role": "assistant", "content": text, "status": status},
        TEXT,
        st.sampled_from(["done", "cut", "stopped", "length"]),
    ),
    st.just({"role": "error", "kind": "timeout", "detail": ""}),
)
CHOICES = st.fixed_dictionaries(
    {
        "multi_turn": st.just(True),
        "model": st.sampled_from([None, "gpt-4o-mini", "not-configured"]),
        "persona_id": st.sampled_from([None, "general", "wellness", "teacher", "custom"]),
        "custom_prompt": st.sampled_from([None, "", "Talk like a pirate."]),
        "lang": st.sampled_from(["en", "zh-cn"]),
        "max_tokens": st.sampled_from([None, 256]),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    history=st.lists(THREAD_ENTRY, max_size=16),
    question=TEXT.filter(str.strip),
    rounds=st.sampled_from(sorted(SERVICES)),
    choices=CHOICES,
)
def test_context_tokens_plus_the_question_alone_is_the_next_requests_size(
    history, question, rounds, choices
):
    """What the page's size estimate adds up (callbacks/chat.py estimate_next_request)."""
    svc = SERVICES[rounds]
    whole = plan_request(svc, history, question, **choices)
    alone = plan_request(svc, [], question, **choices)

    estimate = context_tokens(svc, history, **choices) + count_messages(alone.messages, alone.model)

    assert estimate == count_messages(whole.messages, whole.model)


@settings(max_examples=60, deadline=None)
@given(history=st.lists(THREAD_ENTRY, max_size=12), choices=CHOICES)
def test_context_tokens_counts_the_rounds_sent_and_nothing_else(history, choices):
    svc = SERVICES[10]
    sent = plan_request(svc, history, "", **choices).messages
    rounds = [m for m in sent if m["role"] != "system"][:-1]
    model = plan_request(svc, [], "", **choices).model
    # Each message costs its role, its content and 3 tokens of framing.
    by_hand = sum(count_messages([m], model) - count_messages([], model) for m in rounds)

    assert context_tokens(svc, history, **choices) == by_hand
    assert context_tokens(svc, history, **{**choices, "multi_turn": False}) == 0


# A small window drops rounds to fit, a lock overrides the persona: the one fit must see both.
REFERENCE_SERVICES = {
    "cap 3": SERVICES[3],
    "cap 10": SERVICES[10],
    "locked": service(persona_lock="wellness"),
    "window 400": window_service(Path(tempfile.mkdtemp(prefix="chat-window-")), window=400),
}


def context_tokens_planned_twice(svc: ChatService, history: list[dict], **choices) -> int:
    """context_tokens as it was first written: a whole plan with history and one without."""
    with_history = plan_request(svc, history, "", **choices)
    without = plan_request(svc, [], "", **choices)
    model = with_history.model
    return count_messages(with_history.messages, model) - count_messages(without.messages, model)


@settings(max_examples=200, deadline=None)
@given(
    history=st.lists(THREAD_ENTRY, max_size=24),
    name=st.sampled_from(sorted(REFERENCE_SERVICES)),
    choices=CHOICES,
    multi_turn=st.booleans(),
)
def test_context_tokens_from_one_fit_is_what_two_plans_gave(history, name, choices, multi_turn):
    svc = REFERENCE_SERVICES[name]
    choices = {**choices, "multi_turn": multi_turn}

    assert context_tokens(svc, history, **choices) == context_tokens_planned_twice(
        svc, history, **choices
    )
