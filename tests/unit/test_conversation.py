"""services.conversation: what counts as context, what goes upstream, retries and results."""

from __future__ import annotations

import pytest

from services.context import fit
from services.conversation import (
    build_upstream_messages,
    complete_rounds,
    record_result,
)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def reply(text: str, status: str = "done") -> dict:
    return {"role": "assistant", "content": text, "model": "m", "usage": None, "status": status}


def error(kind: str = "timeout") -> dict:
    return {"role": "error", "kind": kind, "detail": ""}


def rounds_history(n: int) -> list[dict]:
    history = []
    for i in range(1, n + 1):
        history += [user(f"q{i}"), reply(f"a{i}")]
    return history


# complete_rounds -----------------------------------------------------------------------


def test_complete_rounds_pairs_questions_with_answers() -> None:
    history = rounds_history(2)
    assert complete_rounds(history) == [(history[0], history[1]), (history[2], history[3])]


def test_errors_unanswered_questions_and_empty_stopped_replies_are_not_rounds() -> None:
    history = [
        user("failed"),
        error(),
        user("answered"),
        reply("yes"),
        user("stopped before any text"),
        reply("", status="stopped"),
        user("never answered"),
        user("answered late"),
        reply("late"),
        user("pending"),
    ]
    assert [(q["content"], a["content"]) for q, a in complete_rounds(history)] == [
        ("answered", "yes"),
        ("answered late", "late"),
    ]


def test_an_error_between_question_and_reply_breaks_the_round() -> None:
    assert complete_rounds([user("q"), error(), reply("orphan")]) == []


def test_stopped_reply_with_text_is_a_round() -> None:
    history = [user("q"), reply("partial", status="stopped")]
    assert complete_rounds(history) == [(history[0], history[1])]


# build_upstream_messages ---------------------------------------------------------------


def test_multi_turn_sends_earlier_rounds_then_the_question() -> None:
    messages = build_upstream_messages(rounds_history(2), "q3", multi_turn=True, max_rounds=10)
    assert messages == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "q3"},
    ]


def test_upstream_messages_carry_only_role_and_content() -> None:
    messages = build_upstream_messages(rounds_history(1), "q2", multi_turn=True, max_rounds=10)
    assert all(set(m) == {"role", "content"} for m in messages)


def test_multi_turn_off_sends_only_the_question() -> None:
    messages = build_upstream_messages(rounds_history(3), "alone", multi_turn=False, max_rounds=10)
    assert messages == [{"role": "user", "content": "alone"}]


def test_history_cap_drops_the_oldest_rounds_first() -> None:
    messages = build_upstream_messages(rounds_history(5), "q6", multi_turn=True, max_rounds=2)
    assert [m["content"] for m in messages] == ["q4", "a4", "q5", "a5", "q6"]


def test_zero_max_rounds_sends_only_the_question() -> None:
    messages = build_upstream_messages(rounds_history(3), "q4", multi_turn=True, max_rounds=0)
    assert messages == [{"role": "user", "content": "q4"}]


def test_failed_turns_are_not_sent_again() -> None:
    history = [user("q1"), reply("a1"), user("bad"), error(), user("cut"), reply("", "stopped")]
    messages = build_upstream_messages(history, "q2", multi_turn=True, max_rounds=10)
    assert [m["content"] for m in messages] == ["q1", "a1", "q2"]


def test_system_prompt_comes_first() -> None:
    messages = build_upstream_messages(
        rounds_history(1), "q2", multi_turn=True, max_rounds=10, system_prompt="Be brief."
    )
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    only_question = build_upstream_messages(
        [], "q", multi_turn=False, max_rounds=10, system_prompt="Be brief."
    )
    assert only_question == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "q"},
    ]


# The round cap (now part of services.context.fit; a huge window leaves only the cap) ------


def trim_rounds(messages: list[dict], max_rounds: int) -> list[dict]:
    return fit(messages, model="gpt-4o", context_window=10**9, max_rounds=max_rounds).messages


def api_messages(n_rounds: int, system: bool = True) -> list[dict]:
    messages = [{"role": "system", "content": "sys"}] if system else []
    for i in range(1, n_rounds + 1):
        messages += [
            {"role": "user", "content": f"q{i}"},
            {"role": "assistant", "content": f"a{i}"},
        ]
    return [*messages, {"role": "user", "content": "new"}]


def test_trim_rounds_keeps_system_and_the_newest_rounds() -> None:
    trimmed = trim_rounds(api_messages(5), 2)
    assert [m["content"] for m in trimmed] == ["sys", "q4", "a4", "q5", "a5", "new"]


def test_trim_rounds_leaves_a_short_conversation_alone() -> None:
    messages = api_messages(2)
    assert trim_rounds(messages, 10) == messages


def test_trim_rounds_to_zero_keeps_system_and_question() -> None:
    trimmed = trim_rounds(api_messages(3), 0)
    assert [m["content"] for m in trimmed] == ["sys", "new"]


def test_trim_rounds_keeps_every_system_message() -> None:
    messages = [
        {"role": "system", "content": "s1"},
        *api_messages(3, system=False)[:-1],
        {"role": "system", "content": "s2"},
        {"role": "user", "content": "new"},
    ]
    trimmed = trim_rounds(messages, 1)
    assert [m["content"] for m in trimmed] == ["s1", "s2", "q3", "a3", "new"]


# record_result -------------------------------------------------------------------------


USAGE = {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}


@pytest.mark.parametrize("status", ["done", "length", "stopped"])
def test_record_a_reply(status: str) -> None:
    history = [user("q")]
    result = {"status": status, "content": "the answer", "usage": USAGE}
    recorded = record_result(history, result, model="gpt-4o-mini")
    assert recorded == [
        user("q"),
        {
            "role": "assistant",
            "content": "the answer",
            "model": "gpt-4o-mini",
            "usage": USAGE,
            "status": status,
        },
    ]
    assert history == [user("q")]  # the caller's list is not changed


def test_record_an_error_after_partial_text_keeps_the_text_as_cut() -> None:
    result = {
        "status": "error",
        "content": "half",
        "error": {"type": "stream_cut", "message": "cut", "detail": "peer closed"},
    }
    recorded = record_result([user("q")], result, model="m")
    assert recorded[1:] == [
        {"role": "assistant", "content": "half", "model": "m", "status": "cut"},
        {"role": "error", "kind": "stream_cut", "detail": "peer closed"},
    ]


def test_record_an_error_without_text() -> None:
    result = {"status": "error", "content": "", "error": {"type": "rate_limited"}}
    recorded = record_result([user("q")], result, model="m")
    assert recorded[1:] == [{"role": "error", "kind": "rate_limited", "detail": ""}]


def test_record_an_error_with_no_error_object_is_an_internal_error() -> None:
    recorded = record_result([user("q")], {"status": "error"}, model="m")
    assert recorded[1:] == [{"role": "error", "kind": "internal_error", "detail": ""}]
