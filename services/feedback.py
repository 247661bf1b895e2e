"""👍 / 👎 on a finished reply (issue 17): which replies take it, and what a comment may be.

One rule for the page (components/message.py draws the buttons), the records
(services/records/repository.py `set_feedback` stores the choice) and the route the page calls
(api/feedback.py). A comment is plain text the reader wrote: it is kept and shown as text,
never as HTML or Markdown.
"""

from __future__ import annotations

from typing import Literal

from services.conversation import CUT, DONE, LENGTH, STOPPED

UP, DOWN = "up", "down"
Value = Literal["up", "down"]
VALUES = (UP, DOWN)
MAX_COMMENT_CHARS = 1000
# How a reply can have ended for it to be rated: by itself, or by Stop. (None: a reply kept
# before statuses were, or imported from an export without one.) Not while it streams, and not
# one a crash or a reload cut short, which offers a retry instead.
RATED_STATUSES = frozenset({DONE, STOPPED, CUT, LENGTH, None})


def can_rate(role: object, status: object) -> bool:
    """Whether a message with this role and status takes feedback: a finished reply."""
    return role == "assistant" and status in RATED_STATUSES


def clean_comment(comment: object) -> str | None:
    """The comment as kept: stripped, None when empty. NUL goes (PostgreSQL's text cannot hold
    it). Raises ValueError past MAX_COMMENT_CHARS (code points, as the page counts them)."""
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise ValueError("a comment is text")
    text = comment.replace("\x00", "").strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise ValueError(f"a comment has at most {MAX_COMMENT_CHARS} characters")
    return text or None
