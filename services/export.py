"""The conversation as a Markdown file, and reading such a file back.

Format (documented in the README):

    # Chat export

    - Exported: 2026-11-21 16:30:12 +08:00
    - Model: gpt-4o-mini

    ---

    <!-- chat-message role=user -->
    ### You

    the question, verbatim

    <!-- chat-message role=assistant status=done -->
    <!-- chat-meta {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 9, ...}} -->
    ### Assistant

    the reply, verbatim Markdown

The heading is for people and follows the UI language; the HTML comments before it are for
programs (they do not show when the file is rendered) and are the same in every language. The
`chat-meta` line (services/export_meta.py) keeps a reply's model and tokens, so an import has
the original's totals; exports from before it have none and import without them.
Error notices are not part of the conversation and are not exported.

A reply the reader rated 👍 / 👎 (issue 17) has one more line under it, after a marker:

    <!-- chat-feedback -->
    Feedback: 👎 — the comment, on one line, Markdown's special characters escaped

An import leaves it out: the feedback was given to the original's replies, not to the copy's.

A question with attachments (issue 18) lists them under it, after a marker, by name, type and
size (the files themselves are not in the export; an import leaves the list out):

    <!-- chat-attachments -->
    Attachments:
    - worksheet.jpg (image/jpeg, 1.2 MB)
    - report.pdf (application/pdf, 340 KB)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.conversation import CUT, DONE, INTERRUPTED, LEFT, LENGTH, STOPPED
from services.export_meta import meta_line, read_meta
from services.feedback import DOWN, UP

FEEDBACK_MARKER = "<!-- chat-feedback -->"
ATTACHMENTS_MARKER = "<!-- chat-attachments -->"
FEEDBACK_SIGNS = {UP: "\U0001f44d", DOWN: "\U0001f44e"}  # 👍 👎
# What Markdown could read as markup in a comment (HTML, links, emphasis, code, tables): each is
# written with a backslash, so a viewer shows the reader's words as they typed them.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")
MARKER = re.compile(r"^<!-- chat-message role=(user|assistant)(?: status=([a-z]+))? -->$")
# How a finished reply can have ended; any other status in a file (`streaming`, made-up words)
# is not imported: the reply comes in without one, as an old export's would.
ENDED = {DONE, STOPPED, CUT, LENGTH, INTERRUPTED, LEFT}


def user_time(zone: object, now: datetime | None = None) -> datetime:
    """`now` (the current time by default) on the user's clock.

    `zone` is the browser's IANA time zone name (`Asia/Shanghai`), as the page reads it from
    `Intl.DateTimeFormat().resolvedOptions().timeZone`. It comes from the browser, so anything
    that is not a zone this server knows (missing, a path, a number) gives UTC.
    """
    now = now or datetime.now(UTC)
    tz = UTC
    if isinstance(zone, str) and 0 < len(zone) <= 64:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            tz = UTC
    return now.astimezone(tz)


def filename(now: datetime) -> str:
    """`chat-YYYYmmdd-HHMMSS.md`."""
    return now.strftime("chat-%Y%m%d-%H%M%S.md")


def to_markdown(
    history: list[dict],
    *,
    model: str,
    now: datetime,
    labels: dict[str, str],
    summary: list[str] = (),
    notes: dict[int, str] | None = None,
) -> str:
    """Render the user and assistant turns of `history`.

    `labels` holds the human words: title, exported, model, user, assistant. `summary` adds
    lines such as the token total and cost to the list under the title. `notes` adds words to
    the heading of the entry at that index of `history` (which version of it this is): the
    heading is for people, and reading the file back skips it.
    """
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    offset = now.strftime("%z")
    if offset:
        stamp += f" {offset[:3]}:{offset[3:]}"
    lines = [
        f"# {labels['title']}",
        "",
        f"- {labels['exported']}: {stamp}",
        f"- {labels['model']}: {model}",
        *(f"- {line}" for line in summary),
        "",
        "---",
        "",
    ]
    for index, entry in enumerate(history):
        role = entry.get("role")
        if role not in ("user", "assistant"):
            continue
        status = entry.get("status")
        marker = f"<!-- chat-message role={role}"
        marker += f" status={status} -->" if role == "assistant" and status else " -->"
        lines.append(marker)
        meta = meta_line(entry) if role == "assistant" else None
        if meta:
            lines.append(meta)
        heading = f"### {labels[role]}"
        if (notes or {}).get(index):
            heading += f" ({notes[index]})"
        lines += [heading, "", entry.get("content", "").rstrip("\n"), ""]
        if role == "assistant" and entry.get("feedback") in (UP, DOWN):
            lines += [FEEDBACK_MARKER, feedback_line(entry, labels.get("feedback")), ""]
        listed = attachment_lines(entry) if role == "user" else []
        if listed:
            lines += [ATTACHMENTS_MARKER, f"{labels.get('attachments') or 'Attachments'}:"]
            lines += [*listed, ""]
    return "\n".join(lines)


def attachment_lines(entry: dict) -> list[str]:
    """`- name (type, size)` for each of a question's attachments; names as text."""
    lines = []
    for ref in entry.get("attachments") or []:
        if not isinstance(ref, dict):
            continue
        name = _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(ref.get("name") or "file").split()))
        kind = str(ref.get("mime") or ref.get("kind") or "")
        kind = _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(kind.split()))
        size = ref.get("size")
        about = ", ".join(x for x in (kind, human_size(size) if isinstance(size, int) else "") if x)
        lines.append(f"- {name} ({about})" if about else f"- {name}")
    return lines


def human_size(size: int) -> str:
    """820 B, 12.3 KB, 1.2 MB (1 KB = 1024 bytes)."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def feedback_line(entry: dict, label: str | None) -> str:
    """`Feedback: 👎 — comment` for a rated reply: the comment on one line, as text."""
    line = f"{label or 'Feedback'}: {FEEDBACK_SIGNS[entry['feedback']]}"
    comment = entry.get("feedback_comment")
    if entry["feedback"] == DOWN and isinstance(comment, str) and comment.strip():
        line += " — " + _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(comment.split()))
    return line


def from_markdown(text: str) -> list[dict]:
    """Read an exported file back into history entries (user and assistant turns), with a
    reply's model and usage when its `chat-meta` line is there and valid."""
    entries: list[dict] = []
    current: dict | None = None
    body: list[str] = []
    meta_may_follow = False
    feedback = False  # past a feedback or attachments marker: nothing more is the text

    def flush() -> None:
        if current is not None:
            # Drop the heading and the blank line after it, and the separating blank line.
            content = body[2:] if len(body) >= 2 else []
            if content and content[-1] == "":
                content = content[:-1]
            current["content"] = "\n".join(content)
            entries.append(current)

    for line in text.split("\n"):
        match = MARKER.match(line)
        if match:
            flush()
            current = {"role": match.group(1)}
            if match.group(2) in ENDED:
                current["status"] = match.group(2)
            body = []
            meta_may_follow = current["role"] == "assistant"
            feedback = False
            continue
        if current is None or feedback:
            continue
        if line == FEEDBACK_MARKER and current["role"] == "assistant":
            feedback = True
            continue
        if line == ATTACHMENTS_MARKER and current["role"] == "user":
            feedback = True
            continue
        meta = read_meta(line) if meta_may_follow else None
        meta_may_follow = False  # only the line right after the marker
        if meta is None:
            body.append(line)  # an old export's heading
        else:
            current.update(meta)
    flush()
    return entries
