"""The README's table of contents, made from its headings: `python tools/readme_toc.py` rewrites
it, `--check` exits 1 when it is out of date (tests/unit/test_readme_toc.py runs that).

Why by hand and not a library: the rule is GitHub's anchor rule plus skipping fenced code, about
thirty lines; the tools that do it (markdown-toc, doctoc) are Node programs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- toc -->", "<!-- /toc -->"
# `##` sections and their `###` subsections; deeper ones would make the list longer than useful.
LEVELS = (2, 3)
HEADING = re.compile(r"^(#{2,6}) +(.+?) *#*$")


def anchor(title: str, seen: dict[str, int]) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens, and a
    `-1`, `-2` ... suffix for repeats."""
    slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def headings(markdown: str) -> list[tuple[int, str, str]]:
    """(level, title, anchor) of every heading outside fenced code, in order."""
    found, seen, fence = [], {}, None
    for line in markdown.splitlines():
        marker = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if marker:
            if fence is None:
                fence = marker.group(1)[0]
            elif marker.group(1)[0] == fence:
                fence = None
            continue
        match = None if fence else HEADING.match(line)
        if match:
            title = match.group(2)
            found.append((len(match.group(1)), title, anchor(title, seen)))
    return found


def table(markdown: str) -> str:
    """The Markdown list linking every `##` and `###` heading."""
    lines = []
    for level, title, slug in headings(markdown):
        if level in LEVELS and slug != "contents":
            indent = "  " * (level - LEVELS[0])
            lines.append(f"{indent}- [{title.replace('`', '')}](#{slug})")
    return "\n".join(lines)


def updated(markdown: str) -> str:
    """`markdown` with the block between the toc markers made current."""
    before, rest = markdown.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{table(markdown)}\n{END}{after}"


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in argv:
        if new != text:
            print("README.md's table of contents is out of date: python tools/readme_toc.py")
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
