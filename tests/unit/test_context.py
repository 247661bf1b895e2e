"""services.context: which messages go upstream so a conversation fits the model's window.

Every expected token count here comes from services.tokens.count_messages (the app's own,
independently tested counter), so a budget can be hit exactly: one token more or less decides
whether a round is kept.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.context import DEFAULT_REPLY_BUDGET, Fitted, fit, reply_budget, split_rounds
from services.tokens import count_messages, token_ceiling

MODEL = "gpt-4o-mini"
SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def rounds_of(n: int, words: int = 12) -> list[list[dict]]:
    """`n` distinct rounds (question, answer), oldest first."""
    return [
        [
            user(f"question {i}: " + " ".join(f"q{i}w{j}" for j in range(words))),
            assistant(f"answer {i}: " + " ".join(f"a{i}w{j}" for j in range(words))),
        ]
        for i in range(n)
    ]


def conversation(rounds: list[list[dict]], question: dict, system: list[dict]) -> list[dict]:
    return [*system, *(m for r in rounds for m in r), question]


def cost(messages: list[dict]) -> int:
    """What `messages` add to a request (no reply priming): the way fit() charges a round."""
    return count_messages(messages, MODEL) - count_messages([], MODEL)


def kept_rounds(fitted: Fitted, rounds: list[list[dict]]) -> int:
    """How many rounds of `rounds` are in `fitted`; asserts they are the newest, contiguous."""
    _, sent = split_rounds(fitted.messages)
    earlier = sent[:-1]
    if earlier:
        assert earlier == rounds[len(rounds) - len(earlier) :], "not the newest rounds, in order"
    return len(earlier)


# --------------------------------------------------------------------------- reply_budget


def test_reply_budget_user_choice_wins() -> None:
    assert reply_budget(128_000, 500) == 500
    assert reply_budget(800, 700) == 700  # even when it leaves little for the prompt
    assert reply_budget(1_000_000, 20_000) == 20_000


def test_reply_budget_default_is_a_quarter_of_small_windows_capped_at_4096() -> None:
    assert DEFAULT_REPLY_BUDGET == 4096
    assert reply_budget(800, None) == 200
    assert reply_budget(8_192, None) == 2048
    assert reply_budget(16_383, None) == 4095
    assert reply_budget(16_384, None) == 4096
    assert reply_budget(128_000, None) == 4096
    assert reply_budget(601, None) == 150  # floor of a quarter


# --------------------------------------------------------------------------- split_rounds


def test_split_rounds_starts_a_round_at_each_user_message() -> None:
    rounds = rounds_of(2)
    messages = [SYSTEM, *rounds[0], *rounds[1], user("now")]
    system, split = split_rounds(messages)
    assert system == [SYSTEM]
    assert split == [rounds[0], rounds[1], [user("now")]]


# --------------------------------------------------------------------------- fit, examples


def test_everything_fits_in_a_large_window() -> None:
    rounds = rounds_of(5)
    messages = conversation(rounds, user("now?"), [SYSTEM])
    fitted = fit(messages, model=MODEL, context_window=128_000, max_rounds=10)
    assert fitted == Fitted(messages, 0)


def test_messages_without_rounds_are_returned_as_they_are() -> None:
    assert fit([SYSTEM], model=MODEL, context_window=100, max_rounds=10) == Fitted([SYSTEM], 0)
    assert fit([], model=MODEL, context_window=100, max_rounds=10) == Fitted([], 0)


def test_newest_rounds_are_kept_and_older_ones_dropped() -> None:
    rounds = rounds_of(10)
    question = user("And now?")
    messages = conversation(rounds, question, [SYSTEM])
    # Room for the system prompt, the question and exactly three rounds.
    needed = count_messages([SYSTEM, question], MODEL) + sum(cost(r) for r in rounds[-3:])
    fitted = fit(messages, model=MODEL, context_window=needed + 100, max_rounds=10, max_tokens=100)

    assert fitted.messages == [SYSTEM, *rounds[-3], *rounds[-2], *rounds[-1], question]
    assert fitted.dropped_rounds == 7
    assert count_messages(fitted.messages, MODEL) == needed


def test_system_messages_are_kept_even_when_nothing_else_fits() -> None:
    other_system = {"role": "system", "content": "Also: be kind."}
    rounds = rounds_of(3)
    question = user("q")
    fitted = fit(
        [SYSTEM, *rounds[0], other_system, *rounds[1], *rounds[2], question],
        model=MODEL,
        context_window=1,
        max_rounds=10,
        max_tokens=1,
    )
    assert fitted.messages == [SYSTEM, other_system, question]
    assert fitted.dropped_rounds == 3


def test_a_question_too_long_to_fit_alone_still_goes_last() -> None:
    question = user("word " * 2000)
    rounds = rounds_of(2)
    fitted = fit(
        conversation(rounds, question, [SYSTEM]), model=MODEL, context_window=1000, max_rounds=10
    )
    assert fitted.messages == [SYSTEM, question]
    assert fitted.messages[-1] is question
    assert fitted.dropped_rounds == 2


def test_a_large_old_round_does_not_leave_a_hole() -> None:
    """The newest rounds that fit, contiguous: a small older round behind a big one is not
    squeezed in once the big one has been left out."""
    rounds = rounds_of(4, words=3)
    big = [user("big " * 400), assistant("ok")]
    history = [rounds[0], big, rounds[2], rounds[3]]
    question = user("q")
    budget = count_messages([SYSTEM, question], MODEL) + cost(rounds[2]) + cost(rounds[3])
    budget += cost(rounds[0])  # room for the small old round too, but not for the big one
    fitted = fit(
        conversation(history, question, [SYSTEM]),
        model=MODEL,
        context_window=budget + 50,
        max_rounds=10,
        max_tokens=50,
    )
    assert fitted.messages == [SYSTEM, *rounds[2], *rounds[3], question]
    assert fitted.dropped_rounds == 2


def test_max_rounds_caps_even_when_everything_fits() -> None:
    rounds = rounds_of(6)
    question = user("q")
    fitted = fit(
        conversation(rounds, question, [SYSTEM]), model=MODEL, context_window=128_000, max_rounds=2
    )
    assert fitted.messages == [SYSTEM, *rounds[4], *rounds[5], question]
    assert fitted.dropped_rounds == 4


@pytest.mark.parametrize("n", [1, 5, 6, 7, 9, 10])
def test_fewer_rounds_than_the_cap_all_go_when_they_fit(n: int) -> None:
    """MAX_HISTORY_ROUNDS=10 and a conversation of n <= 10 rounds: nothing is over the cap."""
    rounds = rounds_of(n)
    question = user("q")
    messages = conversation(rounds, question, [SYSTEM])
    fitted = fit(messages, model=MODEL, context_window=128_000, max_rounds=10)
    assert kept_rounds(fitted, rounds) == n
    assert fitted == Fitted(messages, 0)


def test_max_rounds_zero_sends_only_system_and_question() -> None:
    rounds = rounds_of(3)
    question = user("q")
    fitted = fit(
        conversation(rounds, question, [SYSTEM]), model=MODEL, context_window=128_000, max_rounds=0
    )
    assert fitted == Fitted([SYSTEM, question], 3)


def test_dropped_rounds_adds_the_cap_and_the_budget() -> None:
    rounds = rounds_of(12)
    question = user("q")
    # The cap leaves 5 rounds; the budget then has room for only 2 of them.
    needed = count_messages([SYSTEM, question], MODEL) + cost(rounds[-1]) + cost(rounds[-2])
    fitted = fit(
        conversation(rounds, question, [SYSTEM]),
        model=MODEL,
        context_window=needed + 10,
        max_rounds=5,
        max_tokens=10,
    )
    assert fitted.messages == [SYSTEM, *rounds[-2], *rounds[-1], question]
    assert fitted.dropped_rounds == 10  # 7 over the cap + 3 over the budget


# --------------------------------------------------------------------------- budget edges


@pytest.mark.parametrize("max_tokens", [1, 300])
def test_budget_edge_with_a_chosen_reply_length(max_tokens: int) -> None:
    rounds = rounds_of(6)
    question = user("What did we say about the third point?")
    messages = conversation(rounds, question, [SYSTEM])
    exact = count_messages([SYSTEM, question], MODEL) + sum(cost(r) for r in rounds[-4:])

    fits = fit(
        messages,
        model=MODEL,
        context_window=exact + max_tokens,
        max_rounds=10,
        max_tokens=max_tokens,
    )
    assert kept_rounds(fits, rounds) == 4
    assert fits.dropped_rounds == 2
    assert count_messages(fits.messages, MODEL) == exact  # the budget, to the token

    one_short = fit(
        messages,
        model=MODEL,
        context_window=exact + max_tokens - 1,
        max_rounds=10,
        max_tokens=max_tokens,
    )
    assert kept_rounds(one_short, rounds) == 3
    assert one_short.dropped_rounds == 3
    assert count_messages(one_short.messages, MODEL) == exact - cost(rounds[-4])


def window_for(budget: int) -> int:
    """The smallest context window whose default reply budget leaves exactly `budget`."""
    window = budget
    while window - reply_budget(window, None) < budget:
        window += 1
    assert window - reply_budget(window, None) == budget
    return window


def test_budget_edge_with_the_default_reply_budget() -> None:
    rounds = rounds_of(5)
    question = user("Summarise.")
    messages = conversation(rounds, question, [SYSTEM])
    exact = count_messages([SYSTEM, question], MODEL) + sum(cost(r) for r in rounds[-2:])

    fits = fit(messages, model=MODEL, context_window=window_for(exact), max_rounds=10)
    assert kept_rounds(fits, rounds) == 2
    assert fits.dropped_rounds == 3

    short = fit(messages, model=MODEL, context_window=window_for(exact - 1), max_rounds=10)
    assert kept_rounds(short, rounds) == 1
    assert short.dropped_rounds == 4


def test_system_and_question_exactly_at_the_budget_keep_no_round() -> None:
    rounds = rounds_of(2)
    question = user("q")
    exact = count_messages([SYSTEM, question], MODEL)
    fitted = fit(
        conversation(rounds, question, [SYSTEM]),
        model=MODEL,
        context_window=exact + 7,
        max_rounds=10,
        max_tokens=7,
    )
    assert fitted == Fitted([SYSTEM, question], 2)


# --------------------------------------------------------------------------- properties

# ASCII words, CJK, kana, Hangul, emoji (one a ZWJ sequence) and full-width punctuation: very
# different numbers of tokens per character.
_PIECE = st.one_of(
    st.sampled_from(list("abcdefghij klmnop qrstuvwxyz ,.!?\n0123456789")),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0x3040, max_codepoint=0x30FF),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.sampled_from(["😀", "🎉", "，", "。", "👩\u200d⚕️", " the", " 的"]),
)
_TEXT = st.lists(_PIECE, max_size=60).map("".join)
# Now and then a much longer turn, so a big old round sits behind smaller ones.
_TURN = st.one_of(_TEXT, _TEXT, _TEXT, st.integers(50, 400).map(lambda n: "long " * n))


@st.composite
def conversations(draw) -> tuple[list[dict], list[list[dict]], dict]:
    """(messages, earlier rounds, question) with optional system prompts."""
    system = [
        {"role": "system", "content": text}
        for text in draw(st.lists(_TEXT, min_size=0, max_size=2))
    ]
    n = draw(st.integers(min_value=0, max_value=12))
    rounds = []
    for i in range(n):
        asked = user(f"{i}:" + draw(_TURN))  # a unique prefix: rounds never compare equal
        if draw(st.booleans()) or i == n - 1:
            rounds.append([asked, assistant(draw(_TURN))])
        else:
            rounds.append([asked])  # a question that got no answer is still a round upstream
    question = user("Q:" + draw(_TEXT))
    return conversation(rounds, question, system), rounds, question


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=conversations(),
    window=st.integers(min_value=1, max_value=3000),
    max_rounds=st.integers(min_value=0, max_value=15),
    max_tokens=st.one_of(st.none(), st.integers(min_value=1, max_value=1500)),
)
def test_fit_invariants(data, window: int, max_rounds: int, max_tokens: int | None) -> None:
    messages, rounds, question = data
    system = [m for m in messages if m["role"] == "system"]
    budget = window - reply_budget(window, max_tokens)

    fitted = fit(
        messages, model=MODEL, context_window=window, max_rounds=max_rounds, max_tokens=max_tokens
    )
    out = fitted.messages

    # System prompts always go, first and in order; the question always goes, last.
    assert out[: len(system)] == system
    assert out[-1] is question
    assert question not in out[len(system) : -1]
    # Between them: the newest rounds, whole, contiguous and in order (kept_rounds checks).
    middle = out[len(system) : -1]
    kept = kept_rounds(fitted, rounds)
    assert middle == [m for r in rounds[len(rounds) - kept :] for m in r]
    assert kept <= max_rounds
    # Exactly what was left out is counted.
    assert fitted.dropped_rounds == len(rounds) - kept
    assert count_messages(out, MODEL) == count_messages([*system, question], MODEL) + sum(
        cost(r) for r in rounds[len(rounds) - kept :]
    )
    # It fits whenever the system prompt and the question fit on their own.
    if count_messages([*system, question], MODEL) <= budget:
        assert count_messages(out, MODEL) <= budget
    # And it is the most that fits: the next older round (within the cap) would not.
    if kept < min(len(rounds), max_rounds):
        older = rounds[len(rounds) - kept - 1]
        assert count_messages(out, MODEL) + cost(older) > budget
    # The input is not modified.
    assert messages == conversation(rounds, question, system)


# --------------------------------------------------------------------------- the ceiling


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["system", "user", "assistant"]), st.text(max_size=300)),
        max_size=8,
    )
)
def test_the_ceiling_is_never_below_the_count(pairs) -> None:
    messages = [{"role": role, "content": text} for role, text in pairs]
    assert token_ceiling(messages) >= count_messages(messages, MODEL)


def test_a_context_that_fits_even_at_a_token_per_byte_is_not_counted(monkeypatch) -> None:
    rounds = rounds_of(10, words=400)
    messages = conversation(rounds, user("now?"), [SYSTEM])
    with monkeypatch.context() as patched:  # what counting every round gives
        patched.setattr("services.context.token_ceiling", lambda _messages: 10**12)
        counted = fit(messages, model=MODEL, context_window=128_000, max_rounds=10)

    def no_counting(*_args, **_kwargs):
        raise AssertionError("counted before the request left")

    monkeypatch.setattr("services.context.count_messages", no_counting)
    assert fit(messages, model=MODEL, context_window=128_000, max_rounds=10) == counted
    assert counted == Fitted(messages, 0)
    # A window the ceiling does not clear is still counted.
    with pytest.raises(AssertionError, match="counted"):
        fit(messages, model=MODEL, context_window=cost(messages) + 200, max_rounds=10)
