"""What a question must be to be sent: the rule the server enforces and the page applies."""

from __future__ import annotations

import sys
from functools import cache
from typing import Literal

Problem = Literal["empty", "too_long"]


def is_blank(text: str) -> bool:
    """A message with nothing but whitespace (Python's `str.isspace`) is empty."""
    return not text.strip()


def input_problem(text: str, max_chars: int) -> Problem | None:
    """Why a question cannot be sent, or None. Length in code points (the page counts them
    with `Array.from`, not in UTF-16 units)."""
    if is_blank(text):
        return "empty"
    if len(text) > max_chars:
        return "too_long"
    return None


@cache
def blank_characters() -> str:
    """What `is_blank` strips, as a JavaScript regular-expression character class body.

    The page refuses an empty message before sending it (assets/chat.js `inputProblem`) with
    this very set: JavaScript's `trim()` and `\\s` disagree with Python on "\\x1c"-"\\x1f",
    "\\x85" and "\\ufeff", and a refusal the page missed would show as a failed reply.
    """
    spaces = [c for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    ranges: list[tuple[int, int]] = []
    for code in spaces:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(f"\\u{{{a:x}}}" if a == b else f"\\u{{{a:x}}}-\\u{{{b:x}}}" for a, b in ranges)
