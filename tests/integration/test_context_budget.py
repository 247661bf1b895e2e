"""The context budget end to end: routes -> ChatService -> real `openai` SDK -> fake upstream.

What the fake records is what the model provider would receive; token counts are made with
services.tokens (count_messages, count_text), the same counter the unit tests check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.tokens import count_messages, count_text
from tests.fake_upstream import Error, Reply

MODEL = "gpt-4o-mini"
WINDOW = 800
REPLY_BUDGET = WINDOW // 4  # the default when the user picks no reply length
SYSTEM = {"role": "system", "content": "You are a concise wellness assistant."}
QUESTION = {"role": "user", "content": "So, what should I change first?"}
TOO_LONG = Error(
    400,
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens. Please reduce the length of the messages.",
    code="context_length_exceeded",
)
WORDS = ["sleep", "water", "walk", "tea", "rest", "breath", "calm", "light", "food", "early"]


def turn(kind: str, i: int) -> str:
    """About 60 tokens, distinct for every (kind, i)."""
    return f"{kind} {i}: " + " ".join(WORDS[(i + j) % len(WORDS)] for j in range(55))


def rounds_of(n: int) -> list[list[dict]]:
    return [
        [
            {"role": "user", "content": turn("Question", i)},
            {"role": "assistant", "content": turn("Answer", i)},
        ]
        for i in range(n)
    ]


def conversation(rounds: list[list[dict]]) -> list[dict]:
    return [SYSTEM, *(m for r in rounds for m in r), QUESTION]


def cost(round_: list[dict]) -> int:
    return count_messages(round_, MODEL) - count_messages([], MODEL)


@pytest.fixture
def small_window(make_app, fake, tmp_path: Path):
    """A test client for an app whose model has an 800-token window (from a providers file)."""

    def build(**overrides: object):
        path = tmp_path / "providers.yaml"
        path.write_text(
            "providers:\n"
            "  - id: local\n"
            "    kind: compatible\n"
            f"    base_url: {fake.base_url}\n"
            "    api_key_env: OPENAI_API_KEY\n"
            "    models:\n"
            f"      - {{id: {MODEL}, context_window: {WINDOW}}}\n",
            encoding="utf-8",
        )
        return make_app(providers_file=str(path), **overrides).server.test_client()

    return build


def stream(client, messages: list[dict], **extra) -> tuple[str, dict]:
    """POST /api/chat/stream: (the reply text, the final event)."""
    response = client.post("/api/chat/stream", json={"messages": messages, **extra})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.endswith("\n\n")
    events = [json.loads(block[len("data: ") :]) for block in body[:-2].split("\n\n")]
    *deltas, final = events
    assert all("delta" in e for e in deltas), events
    return "".join(e["delta"] for e in deltas), final


def sent_rounds(messages: list[dict], rounds: list[list[dict]]) -> int:
    """How many of `rounds` are in `messages`: asserts the system message and the question
    frame them, and that they are the newest rounds, whole and in order."""
    assert messages[0] == SYSTEM
    assert messages[-1] == QUESTION
    middle = messages[1:-1]
    assert len(middle) % 2 == 0
    kept = len(middle) // 2
    assert middle == [m for r in rounds[len(rounds) - kept :] for m in r]
    return kept


# --------------------------------------------------------------------------- the budget


def test_a_long_conversation_is_fitted_to_a_small_window(small_window, fake) -> None:
    client = small_window(max_history_rounds=100)
    rounds = rounds_of(30)
    assert all(55 <= count_text(m["content"], MODEL) <= 65 for r in rounds for m in r)

    text, final = stream(client, conversation(rounds))

    assert final["done"] is True, final
    assert text.startswith("Echo: ")
    [request] = fake.requests
    sent = request.body["messages"]
    kept = sent_rounds(sent, rounds)
    assert 1 <= kept < 30
    budget = WINDOW - REPLY_BUDGET
    assert count_messages(sent, MODEL) <= budget
    # The newest rounds that fit: one more would not have.
    assert count_messages(sent, MODEL) + cost(rounds[-kept - 1]) > budget
    assert final["context"] == {"dropped_rounds": 30 - kept, "retried": False}


def test_the_budget_and_the_round_cap_add_up(small_window, fake) -> None:
    """The default cap of 10 rounds first, then the window: both count as dropped."""
    client = small_window()
    rounds = rounds_of(30)

    _, final = stream(client, conversation(rounds))

    [request] = fake.requests
    kept = sent_rounds(request.body["messages"], rounds)
    assert 1 <= kept < 10
    assert count_messages(request.body["messages"], MODEL) <= WINDOW - REPLY_BUDGET
    assert final["context"] == {"dropped_rounds": 30 - kept, "retried": False}


def test_a_chosen_reply_length_is_kept_free(small_window, fake) -> None:
    client = small_window()
    rounds = rounds_of(30)

    _, final = stream(client, conversation(rounds), max_tokens=450)

    [request] = fake.requests
    sent = request.body["messages"]
    kept = sent_rounds(sent, rounds)
    assert count_messages(sent, MODEL) <= WINDOW - 450
    assert count_messages(sent, MODEL) + cost(rounds[-kept - 1]) > WINDOW - 450
    assert final["context"]["dropped_rounds"] == 30 - kept


def test_the_json_api_is_fitted_too(small_window, fake) -> None:
    client = small_window()
    rounds = rounds_of(30)

    response = client.post("/api/chat", json={"messages": conversation(rounds)})

    assert response.status_code == 200, response.get_json()
    [request] = fake.requests
    kept = sent_rounds(request.body["messages"], rounds)
    assert 1 <= kept < 10
    assert count_messages(request.body["messages"], MODEL) <= WINDOW - REPLY_BUDGET


def test_max_history_rounds_caps_even_in_a_huge_window(make_app, fake) -> None:
    client = make_app(max_history_rounds=2).server.test_client()
    rounds = rounds_of(10)

    _, final = stream(client, conversation(rounds))

    [request] = fake.requests
    assert sent_rounds(request.body["messages"], rounds) == 2
    assert final["context"] == {"dropped_rounds": 8, "retried": False}


@pytest.mark.parametrize("n", [3, 7, 10])
def test_a_conversation_within_the_cap_and_the_window_goes_whole(client, fake, n: int) -> None:
    rounds = rounds_of(n)  # MAX_HISTORY_ROUNDS is 10 and gpt-4o-mini's window is 128k

    _, final = stream(client, conversation(rounds))

    [request] = fake.requests
    assert request.body["messages"] == conversation(rounds)
    assert final["context"] == {"dropped_rounds": 0, "retried": False}


# --------------------------------------------------------------------------- context too long


def test_context_too_long_is_retried_once_with_less_history(client, fake) -> None:
    rounds = rounds_of(4)
    fake.script(TOO_LONG, Reply("Start with sleep."))

    text, final = stream(client, conversation(rounds))

    assert text == "Start with sleep."
    assert final["done"] is True
    first, second = fake.requests
    assert first.body["messages"] == conversation(rounds)
    kept = sent_rounds(second.body["messages"], rounds)
    assert len(second.body["messages"]) < len(first.body["messages"])
    assert kept < 4
    assert final["context"] == {"dropped_rounds": 4 - kept, "retried": True}
    assert final["context"]["dropped_rounds"] > 0


def test_the_retry_counts_rounds_dropped_by_the_budget_too(small_window, fake) -> None:
    client = small_window(max_history_rounds=100)
    rounds = rounds_of(30)
    fake.script(TOO_LONG, Reply("Fine."))

    _, final = stream(client, conversation(rounds))

    first, second = fake.requests
    kept_first = sent_rounds(first.body["messages"], rounds)
    kept_second = sent_rounds(second.body["messages"], rounds)
    assert kept_second < kept_first
    assert final["context"] == {"dropped_rounds": 30 - kept_second, "retried": True}


def test_a_second_context_error_is_reported_not_retried_again(client, fake) -> None:
    fake.script(TOO_LONG, TOO_LONG, Reply("never sent"))

    text, final = stream(client, conversation(rounds_of(6)))

    assert text == ""
    assert final["error"]["type"] == "context_too_long"
    assert final["error"]["message"]
    assert len(fake.requests) == 2
    assert fake.pending == 1


def test_a_single_round_that_is_too_long_fails_after_one_request(client, fake) -> None:
    fake.script(TOO_LONG, Reply("never sent"))

    _, final = stream(client, [SYSTEM, {"role": "user", "content": "word " * 1500}])

    assert final["error"]["type"] == "context_too_long"
    assert len(fake.requests) == 1
    assert fake.pending == 1


def test_other_bad_requests_are_not_retried(client, fake) -> None:
    fake.script(Error(400, "Invalid value for 'temperature'."), Reply("never sent"))

    _, final = stream(client, conversation(rounds_of(4)))

    assert final["error"]["type"] == "bad_request"
    assert len(fake.requests) == 1


# --------------------------------------------------------------------------- usage


def test_usage_is_the_upstreams_when_it_sends_some(client, fake) -> None:
    usage = {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290}
    fake.script(Reply("Drink water.", usage=usage))

    _, final = stream(client, conversation(rounds_of(2)))

    [request] = fake.requests
    assert request.body["stream_options"] == {"include_usage": True}
    assert final["usage"] == usage


def test_usage_is_estimated_when_the_upstream_sends_none(small_window, fake) -> None:
    """A compatible server that rejects stream_options reports no usage: the app counts what
    it actually sent (the fitted messages, not what the client posted) and the reply."""
    client = small_window()
    rounds = rounds_of(30)
    reply = "Go to bed earlier. 早点睡觉，多喝水。🌙"
    fake.script(Error(400, "Unknown parameter: 'stream_options'.", code="unknown_parameter"))
    fake.script(Reply(reply))

    text, final = stream(client, conversation(rounds))

    assert text == reply
    first, second = fake.requests
    assert "stream_options" in first.body
    assert "stream_options" not in second.body
    sent = second.body["messages"]
    assert sent_rounds(sent, rounds) < 30
    prompt = count_messages(sent, MODEL)
    completion = count_text(reply, MODEL)
    assert final["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "estimated": True,
    }
    assert final["context"]["dropped_rounds"] == 30 - sent_rounds(sent, rounds)
