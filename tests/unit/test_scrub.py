"""services.scrub: a configured key is hidden in every shape an upstream quotes it in."""

from __future__ import annotations

import base64
import logging

import pytest

from services.scrub import HIDDEN, Scrubber, ScrubFilter

# Made up; in two parts, so secret scanners pass it.
KEY = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
AZURE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture
def scrubber() -> Scrubber:
    return Scrubber([KEY, AZURE], whole=["a-long-password"])


@pytest.mark.parametrize(
    "shape",
    [
        KEY,
        KEY.removeprefix("sk-proj-"),
        f"{KEY[:7]}********{KEY[-4:]}",
        f"{KEY[:3]}...{KEY[-4:]}",
        f"****{KEY[-4:]}",
        KEY[:12],
        KEY[-10:],
        KEY[10:30],
        base64.b64encode(f"user:{KEY}".encode()).decode(),
        base64.b64encode(f"ab:{KEY}".encode()).decode(),
        base64.urlsafe_b64encode(f"x:{AZURE}".encode()).decode(),
        AZURE,
        AZURE[:16],
        f"{AZURE[:4]}…{AZURE[-4:]}",
    ],
)
def test_every_shape_of_a_key_is_hidden(scrubber, shape):
    scrubbed = scrubber.scrub(f"upstream says: {shape}. Try again")
    assert scrubbed == f"upstream says: {HIDDEN}. Try again"


def test_ordinary_text_is_left_alone(scrubber):
    text = 'data: {"delta": "Hello, sk-learn users! 2026-12-06 id 0123456789abcdef"}\n\n'
    assert scrubber.scrub(text) == text


def test_passwords_are_hidden_whole_and_short_secrets_not_at_all():
    scrubber = Scrubber(["short"], whole=["a-long-password", "pw"])
    assert scrubber.scrub("x a-long-password y") == f"x {HIDDEN} y"
    # A part of a password is nobody's quote, and a 2-letter secret is ordinary text.
    assert scrubber.scrub("a-long-pass pw short") == "a-long-pass pw short"


def test_bytes_and_nested_values(scrubber):
    assert scrubber.scrub_bytes(f"é {KEY}".encode()) == f"é {HIDDEN}".encode()
    assert scrubber.scrub_value({"a": [KEY, 1, {"b": AZURE}]}) == {"a": [HIDDEN, 1, {"b": HIDDEN}]}


def test_the_log_filter_scrubs_message_arguments_and_traceback(monkeypatch):
    from services import scrub as module

    monkeypatch.setattr(module, "SCRUBBER", Scrubber([KEY]))
    try:
        raise RuntimeError(f"upstream quoted {KEY}")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "key %s", (KEY[:12],), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()
    assert ScrubFilter().filter(record)
    text = logging.Formatter().format(record)
    assert KEY[:8] not in text and KEY[-8:] not in text
    assert "RuntimeError: upstream quoted [hidden]" in text


def test_an_unconfigured_openai_key_is_hidden_but_not_words_like_it(scrubber):
    other = "sk-" + "Zz9" * 12
    assert scrubber.scrub(f"a {other} b sk-ab***wxyz") == f"a {HIDDEN} b {HIDDEN}"
    text = "use sk-learn-based models and key-value-store caches"
    assert scrubber.scrub(text) == text
