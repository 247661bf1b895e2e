"""assets/chat.js names page elements by id; each must be one the layout really has."""

from __future__ import annotations

import re
from pathlib import Path

from components import ids

SCRIPT = Path(__file__).resolve().parents[2] / "assets" / "chat.js"
KNOWN = {value for name, value in vars(ids).items() if name.isupper() and isinstance(value, str)}


def test_every_element_the_script_sets_or_finds_is_in_the_layout() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    named = set(re.findall(r'(?:setProps|set_props|getElementById)\("([\w-]+)"', text))
    named |= set(re.findall(r'querySelector\("#([\w-]+)"\)', text))

    assert len(named) >= 8, named  # the pattern still finds them
    assert named - KNOWN == set()
