"""assets/chat.js and assets/attach.js name page elements by id; each must be one the layout
really has."""

from __future__ import annotations

import re
from pathlib import Path

from components import ids

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SCRIPT = ASSETS / "chat.js"
KNOWN = {value for name, value in vars(ids).items() if name.isupper() and isinstance(value, str)}


def test_every_element_the_script_sets_or_finds_is_in_the_layout() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    named = set(re.findall(r'(?:setProps|set_props|getElementById)\("([\w-]+)"', text))
    named |= set(re.findall(r'querySelector\("#([\w-]+)"\)', text))

    assert len(named) >= 8, named  # the pattern still finds them
    assert named - KNOWN == set()


def test_every_element_the_attachments_script_finds_is_in_the_layout() -> None:
    text = (ASSETS / "attach.js").read_text(encoding="utf-8")
    named = set(re.findall(r'(?:getElementById|getLayout|layoutProp)\("([\w-]+)"', text))
    named |= set(re.findall(r'closest\("#([\w-]+)"\)', text))

    assert len(named) >= 8, named
    assert named - KNOWN == set()
