"""The README's table of contents links every section and is current (tools/readme_toc.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("readme_toc", ROOT / "tools" / "readme_toc.py")
readme_toc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_toc)


def test_the_table_of_contents_is_current():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_toc.updated(text) == text, "run: python tools/readme_toc.py"


def test_every_link_in_it_names_a_heading():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split(readme_toc.START, 1)[1].split(readme_toc.END, 1)[0]
    anchors = {slug for _, _, slug in readme_toc.headings(text)}
    links = [line.rsplit("(#", 1)[1].rstrip(")") for line in block.splitlines() if "(#" in line]
    assert len(links) > 20
    assert set(links) <= anchors


def test_anchors_follow_githubs_rule():
    seen: dict[str, int] = {}
    assert readme_toc.anchor("Through a local proxy (`python chat_app.py local`)", seen) == (
        "through-a-local-proxy-python-chat_apppy-local"
    )
    assert readme_toc.anchor("When the model's server misbehaves", seen) == (
        "when-the-models-server-misbehaves"
    )
    assert readme_toc.anchor("Putting it on the internet: password", seen) == (
        "putting-it-on-the-internet-password"
    )
    assert readme_toc.anchor("You", seen) == "you"
    assert readme_toc.anchor("You", seen) == "you-1"


def test_headings_in_code_blocks_are_not_sections():
    text = "## Real\n```bash\n# a comment\n## not a heading\n```\n### Sub\n"
    assert [t for _, t, _ in readme_toc.headings(text)] == ["Real", "Sub"]
