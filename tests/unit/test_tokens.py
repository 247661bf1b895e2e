"""services.tokens: offline token counts, encodings by model, context windows.

Reference token ids come from outside this code: the values the brief verified against tiktoken,
and the outputs printed in OpenAI's cookbook "How to count tokens with tiktoken" (its
compare_encodings examples, and 129 / 124 prompt tokens for its example conversation with
gpt-4 / gpt-4o). Nothing here needs the network: bpe-openai ships its encodings.
"""

from __future__ import annotations

import socket
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services import tokens
from services.tokens import (
    CL100K,
    DEFAULT_CONTEXT_WINDOW,
    O200K,
    context_window,
    count_messages,
    count_text,
    encoding_name,
    normalize_model,
)

# (text, cl100k_base ids, o200k_base ids); None where no outside reference is known.
REFERENCE = [
    ("hello world", [15339, 1917], [24912, 2375]),
    ("tiktoken is great!", [83, 1609, 5963, 374, 2294, 0], None),
    ("2 + 2 = 4", [17, 489, 220, 17, 284, 220, 19], [17, 659, 220, 17, 314, 220, 19]),
    (
        "お誕生日おめでとう",
        [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556, 78699],
        [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669],
    ),
    ("antidisestablishmentarianism", [519, 85342, 34500, 479, 8997, 2191], None),
    # Llama 3 reuses cl100k's first 100k ids: its chat template writes these role names so.
    ("system", [9125], None),
    ("user", [882], None),
    ("assistant", [78191], None),
]

# The cookbook's example conversation (system messages with `name`, then a user message).
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection (tiktoken fetching an encoding, say) fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("token counting tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --- reference counts --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "ids", "_"), REFERENCE)
def test_cl100k_matches_reference_ids(text: str, ids: list[int], _: object) -> None:
    assert tokens._encoding(CL100K).encode_ordinary(text) == ids
    assert count_text(text, "gpt-4") == len(ids)


@pytest.mark.parametrize(("text", "_", "ids"), [r for r in REFERENCE if r[2] is not None])
def test_o200k_matches_reference_ids(text: str, _: object, ids: list[int]) -> None:
    assert tokens._encoding(O200K).encode_ordinary(text) == ids
    assert count_text(text, "gpt-4o") == len(ids)


def test_the_model_picks_the_encoding_for_a_count() -> None:
    # The same text counts differently in the two encodings.
    assert count_text("お誕生日おめでとう", "gpt-3.5-turbo") == 9
    assert count_text("お誕生日おめでとう", "gpt-4o-mini") == 8


def test_empty_text_is_no_tokens() -> None:
    assert count_text("", "gpt-4o") == 0
    assert count_text("", "gpt-4") == 0


def test_chinese_text() -> None:
    # "你好" is two tokens in cl100k and one in o200k, whose vocabulary has far more CJK; each
    # count is the length of a sequence that decodes back to the text.
    for model, expected in (("gpt-4", [57668, 53901]), ("gpt-4o", [177519])):
        encoding = tokens._encoding(encoding_name(model))
        assert encoding.encode_ordinary("你好") == expected
        assert encoding.decode(expected) == "你好"
        assert count_text("你好", model) == len(expected)


def test_an_emoji_without_a_token_of_its_own_is_counted_by_its_bytes() -> None:
    # 👍 is 4 UTF-8 bytes; cl100k has no token for it and spells it with byte tokens, o200k has
    # one. Either way the tokens' bytes are exactly the emoji's.
    emoji = "\N{THUMBS UP SIGN}"
    for model, expected in (("gpt-4", 3), ("gpt-4o", 1)):
        encoding = tokens._encoding(encoding_name(model))
        ids = encoding.encode_ordinary(emoji)
        assert b"".join(encoding.decode_single_token_bytes(i) for i in ids) == emoji.encode()
        assert count_text(emoji, model) == expected


def test_special_token_text_is_ordinary_text() -> None:
    # A user may type "<|endoftext|>"; the API reads it as text, and counting must not raise.
    text = "<|endoftext|>"
    as_text = tokens._encoding(CL100K).encode(text, disallowed_special=())
    assert count_text(text, "gpt-4") == len(as_text) == 7
    assert count_text(text, "gpt-4o") == len(tokens._encoding(O200K).encode_ordinary(text)) > 1


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4o"])
def test_text_too_long_for_one_call_is_counted_in_pieces(model: str) -> None:
    # bpe-openai refuses 1,000,000 characters or 200,000 tokens in one call. A line that
    # repeats counts the same each time (a newline never joins the next word), so the whole
    # text's count is known without encoding it in one go.
    line = "The quick brown fox jumps over the lazy dog.\n"
    repeats = 1_100_000 // len(line)
    per_line = count_text(line, model)
    assert count_text(line * 1000, model) == 1000 * per_line
    assert count_text(line * repeats, model) == repeats * per_line

    words = "hello world "  # no newline: only spaces to cut at
    pairs = 1_100_000 // len(words)
    assert count_text(words * pairs, model) == 2 * pairs + 1  # hello, " world", ..., " "


# Words of up to 8 characters (letters, digits, punctuation, symbols, marks: CJK and emoji
# included) between single spaces or newlines: every stretch of 12 characters has a safe cut.
words_and_gaps = st.lists(
    st.tuples(
        st.text(
            alphabet=st.characters(categories=["L", "N", "P", "S", "M"]),
            min_size=1,
            max_size=8,
        ).filter(lambda word: not any(c.isspace() for c in word)),
        st.sampled_from([" ", "\n"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(parts=words_and_gaps, model=st.sampled_from(["gpt-4", "gpt-4o"]), size=st.integers(24, 60))
def test_cutting_into_pieces_never_changes_a_count(
    parts: list[tuple[str, str]], model: str, size: int
) -> None:
    """Long texts are cut only where the encodings' pre-tokenizer cuts anyway (before a space
    between two words, after a newline), so the pieces' counts add up to the whole count."""
    text = "".join(word + gap for word, gap in parts)
    whole = len(tokens._encoding(encoding_name(model)).encode_ordinary(text))
    pieces = list(tokens._pieces(text, size))
    assert "".join(pieces) == text
    assert all(len(piece) <= size for piece in pieces)
    with mock.patch.object(tokens, "_PIECE_CHARS", size):
        assert count_text(text, model) == whole


# --- count_messages ----------------------------------------------------------------------------


def test_count_messages_is_the_cookbook_formula_by_hand() -> None:
    messages = [
        {"role": "system", "content": "tiktoken is great!"},
        {"role": "user", "content": "お誕生日おめでとう"},
    ]
    # 3 per message + role (1 token each) + content, + 3 for the reply's priming.
    # cl100k: content 6 and 9 tokens; o200k: 6 and 8 ("tiktoken is great!" is 6 in both).
    assert count_messages(messages, "gpt-4") == (3 + 1 + 6) + (3 + 1 + 9) + 3 == 26
    assert count_messages(messages, "gpt-4o") == (3 + 1 + 6) + (3 + 1 + 8) + 3 == 25


def test_count_messages_matches_the_cookbook_example() -> None:
    # The cookbook printed 129 for gpt-4 / gpt-3.5-turbo and 124 for gpt-4o / gpt-4o-mini.
    assert count_messages(COOKBOOK_MESSAGES, "gpt-4-0613") == 129
    assert count_messages(COOKBOOK_MESSAGES, "gpt-3.5-turbo") == 129
    assert count_messages(COOKBOOK_MESSAGES, "gpt-4o") == 124
    assert count_messages(COOKBOOK_MESSAGES, "gpt-4o-mini") == 124


def test_a_name_costs_its_tokens_and_one_more() -> None:
    plain = {"role": "user", "content": "hello world"}
    named = {**plain, "name": "hello"}  # "hello" is one token
    assert count_messages([named], "gpt-4") - count_messages([plain], "gpt-4") == 1 + 1


def test_no_messages_is_the_reply_priming_alone() -> None:
    assert count_messages([], "gpt-4o") == 3


def test_history_keys_that_do_not_go_upstream_are_not_counted() -> None:
    sent = {"role": "assistant", "content": "hello world"}
    stored = {**sent, "model": "gpt-4o", "usage": {"prompt_tokens": 9}, "status": "done"}
    assert count_messages([stored], "gpt-4o") == count_messages([sent], "gpt-4o") == 3 + 1 + 2 + 3


def test_list_content_counts_its_text_parts_and_images() -> None:
    parts = {
        "role": "user",
        "content": [
            {"type": "text", "text": "hello"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": " world"},
        ],
    }
    plain = {"role": "user", "content": "hello world"}
    # An image whose size cannot be read counts as the most an image can cost.
    assert count_messages([parts], "gpt-4o") == count_messages([plain], "gpt-4o") + 1445
    assert count_messages([{"role": "assistant", "content": None}], "gpt-4o") == 3 + 1 + 3


# --- encoding_name -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", O200K),
        ("gpt-4o-mini", O200K),
        ("chatgpt-4o-latest", O200K),
        ("gpt-4.1", O200K),
        ("gpt-4.1-nano", O200K),
        ("gpt-4.5-preview", O200K),
        ("gpt-5", O200K),
        ("gpt-5-mini", O200K),
        ("o1", O200K),
        ("o1-mini", O200K),
        ("o3-mini", O200K),
        ("o4-mini", O200K),
        ("gpt-4", CL100K),
        ("gpt-4-turbo", CL100K),
        ("gpt-4-32k", CL100K),
        ("gpt-3.5-turbo", CL100K),
        ("gpt-35-turbo", CL100K),  # Azure's name
        ("text-embedding-3-small", CL100K),
        ("text-embedding-ada-002", CL100K),
        # Prefixes, tags, date suffixes and case.
        ("openai/gpt-4o-2024-08-06", O200K),
        ("azure/gpt-35-turbo-0125", CL100K),
        ("gpt-4-0613", CL100K),
        ("GPT-4O", O200K),
        ("  gpt-4  ", CL100K),
        ("ft:gpt-3.5-turbo-0125:my-org::abc123", CL100K),
        # Unknown models: the documented o200k_base estimate.
        ("llama3", O200K),
        ("llama3.1:70b", O200K),
        ("qwen2", O200K),
        ("deepseek-chat", O200K),
        ("my-deployment", O200K),
        ("", O200K),
    ],
)
def test_encoding_name(model: str, expected: str) -> None:
    assert encoding_name(model) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("openai/gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4-0613", "gpt-4"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("llama3.1:8b", "llama3.1"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama-3.1-8b-instruct"),
        ("ft:gpt-4o-mini-2024-07-18:org::x1", "gpt-4o-mini"),
        ("gpt-4-1106-preview", "gpt-4-1106-preview"),  # a date in the middle stays
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("qwen2.5-7b", "qwen2.5-7b"),  # not a date
        ("model-1399", "model-1399"),  # month 13: not a date
    ],
)
def test_normalize_model(model: str, expected: str) -> None:
    assert normalize_model(model) == expected


def test_normalize_model_can_keep_the_date() -> None:
    assert normalize_model("OpenAI/gpt-4o-2024-05-13", keep_date=True) == "gpt-4o-2024-05-13"


model_names = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789.-"), min_size=1, max_size=20
)


@given(
    name=model_names,
    prefix=st.sampled_from(["", "openai/", "azure/", "OpenRouter/"]),
    date=st.sampled_from(["", "-2024-08-06", "-20240806", "-0613"]),
    tag=st.sampled_from(["", ":latest", ":8b"]),
)
def test_prefix_date_and_tag_never_change_the_encoding(
    name: str, prefix: str, date: str, tag: str
) -> None:
    base = normalize_model(name)
    decorated = f"{prefix}{base}{date}{tag}"
    assert normalize_model(decorated) == normalize_model(base)
    assert encoding_name(decorated) == encoding_name(base)
    assert normalize_model(normalize_model(decorated)) == normalize_model(decorated)


# --- context_window ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", 128_000),
        ("gpt-4o-mini", 128_000),
        ("openai/gpt-4o-2024-08-06", 128_000),
        ("chatgpt-4o-latest", 128_000),
        ("gpt-4.1", 1_047_576),
        ("gpt-4.1-mini", 1_047_576),
        ("gpt-5", 400_000),
        ("gpt-5-nano", 400_000),
        ("o1", 200_000),
        ("o3", 200_000),
        ("o3-mini", 200_000),
        ("o4-mini", 200_000),
        ("o1-mini", 128_000),
        ("gpt-4-turbo", 128_000),
        ("gpt-4-turbo-2024-04-09", 128_000),
        ("gpt-4-1106-preview", 128_000),
        ("gpt-4", 8_192),
        ("gpt-4-0613", 8_192),
        ("gpt-4-32k", 32_768),
        ("gpt-3.5-turbo", 16_385),
        ("gpt-35-turbo", 16_385),
        ("llama3", 8_192),
        ("llama3:70b", 8_192),
        ("llama3.1", 131_072),
        ("llama3.1:8b", 131_072),
        ("llama3.2", 131_072),
        ("llama3.3:70b", 131_072),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", 131_072),
        ("qwen2.5", 32_768),
        ("qwen2.5:14b", 32_768),
        ("deepseek-chat", 65_536),
    ],
)
def test_context_window_table(model: str, expected: int) -> None:
    assert context_window(model) == expected


@pytest.mark.parametrize("model", ["my-deployment", "mistral", "qwen2", "llama2", ""])
def test_unknown_models_get_the_conservative_default(model: str) -> None:
    assert context_window(model) == DEFAULT_CONTEXT_WINDOW == 8192


def test_override_wins() -> None:
    assert context_window("gpt-4o", override=4096) == 4096
    assert context_window("my-deployment", override=32_000) == 32_000
    assert context_window("gpt-4o", override=None) == 128_000


@pytest.mark.parametrize("bad", [0, -1])
def test_override_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        context_window("gpt-4o", override=bad)


# --- loading -----------------------------------------------------------------------------------


def test_each_encoding_is_loaded_once() -> None:
    assert tokens._encoding(O200K) is tokens._encoding(O200K)
    assert tokens._encoding(CL100K) is not tokens._encoding(O200K)
    with mock.patch("bpe_openai.get_encoding") as get_encoding:
        count_text("hello world", "gpt-4o")
        count_text("hello world", "gpt-4")
    get_encoding.assert_not_called()


def test_a_long_texts_count_is_kept_and_is_the_same() -> None:
    """A turn plans with the same earlier messages every time: their counts are kept."""
    from services import tokens

    text = "A long earlier answer about sleep and tea. " * 40
    first = tokens.count_text(text, "gpt-4o-mini")
    calls = []
    original = tokens._count
    tokens._count = lambda name, value: calls.append(value) or original(name, value)
    try:
        again = tokens.count_text(text, "gpt-4o-mini")
        other = tokens.count_text(text + " More.", "gpt-4o-mini")
    finally:
        tokens._count = original
    assert again == first
    assert calls == [text + " More."]  # counted once more only for a text it had not seen
    assert other > first
