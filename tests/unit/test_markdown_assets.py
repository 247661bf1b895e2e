"""Math and diagrams in replies: what the server's side of them promises.

The rule itself (which delimiters become math, what stays a price) lives once, in
assets/markdown.js, for finished and live replies alike; tests/e2e/test_math_page.py runs it in
Chromium. Here: the component is asked for diagrams, the diagram library is this server's own
file, loaded only when a reply needs it, and the page's policy still forbids everything else.
"""

from __future__ import annotations

import re
from pathlib import Path

from components.markdown import MERMAID_CLASS, markdown_view
from components.turn import page_config

ASSETS = Path(__file__).resolve().parents[2] / "assets"
MERMAID_VERSION = "11.17.2"


def test_markdown_view_draws_mermaid_blocks_into_its_own_containers() -> None:
    view = markdown_view("```mermaid\ngraph TD\n```", lang="en")
    assert view.mermaidOptions
    assert view.mermaidContainerClassName == MERMAID_CLASS
    # The live reply draws with the same props (assets/chat.js reads them from the page).
    live = page_config(lang="en", max_input_chars=10, max_history_rounds=1)["markdown"]
    assert live["mermaidContainerClassName"] == MERMAID_CLASS
    assert live["mermaidOptions"] == view.mermaidOptions


def test_the_diagram_library_is_vendored_and_strict() -> None:
    library = ASSETS / "vendor" / "mermaid.min.js"
    assert f'version:"{MERMAID_VERSION}"' in library.read_text(encoding="utf-8")
    assert MERMAID_VERSION in (ASSETS / "vendor" / "README.md").read_text(encoding="utf-8")
    script = (ASSETS / "markdown.js").read_text(encoding="utf-8")
    assert 'securityLevel: "strict"' in script
    assert "vendor/mermaid.min.js" in script
    # Nothing from another host, in the page's scripts or the library.
    for text in (script, library.read_text(encoding="utf-8")):
        assert not re.search(r"(cdn\.jsdelivr|unpkg\.com|cdnjs)", text)


def test_the_page_loads_the_math_script_but_not_the_diagram_library(client) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "/assets/markdown.js" in page
    assert "mermaid.min.js" not in page  # loaded only when a reply has a diagram

    library = client.get("/assets/vendor/mermaid.min.js")
    assert library.status_code == 200
    assert "javascript" in library.mimetype


def test_the_page_policy_still_allows_no_other_host(client) -> None:
    policy = client.get("/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"].split()[0] == "'self'"
    assert "'unsafe-eval'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "http" not in directives["script-src"]
    assert directives["connect-src"] == "'self'"
