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
    ### Assistant

    the reply, verbatim Markdown

The heading is for people and follows the UI language; the HTML comment before it is for
programs (it does not show when the file is rendered) and is the same in every language.
Error notices are not part of the conversation and are not exported.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MARKER = re.compile(r"^<!-- chat-message role=(user|assistant)(?: status=([a-z]+))? -->$")


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
) -> str:
    """Render the user and assistant turns of `history`.

    `labels` holds the human words: title, exported, model, user, assistant. `summary` adds
    lines such as the token total and cost to the list under the title.
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
    for entry in history:
        role = entry.get("role")
        if role not in ("user", "assistant"):
            continue
        status = entry.get("status")
        marker = f"<!-- chat-message role={role}"
        marker += f" status={status} -->" if role == "assistant" and status else " -->"
        lines += [marker, f"### {labels[role]}", "", entry.get("content", "").rstrip("\n"), ""]
    return "\n".join(lines)


def from_markdown(text: str) -> list[dict]:
    """Read an exported file back into history entries (user and assistant turns)."""
    entries: list[dict] = []
    current: dict | None = None
    body: list[str] = []

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
            if match.group(2):
                current["status"] = match.group(2)
            body = []
        elif current is not None:
            body.append(line)
    flush()
    return entries
