"""Math and diagrams in replies (issue 16 point 4), in Chromium against the fake model.

The rule (assets/markdown.js `normalizeMath`) runs for every FefferyMarkdown on the page, the
finished replies Dash draws and the live one assets/chat.js draws; its cases run here in the
real page, many per `page.evaluate`, and whole replies show what a user sees.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_chat_page import send, wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

# (what the model wrote, what the Markdown component is given)
CASES = [
    (r"\(a^2\)", "$a^2$"),
    (r"so \( a + b \) holds", "so $a + b$ holds"),
    (r"\[\int_0^1 x\,dx\]", "$$\n\\int_0^1 x\\,dx\n$$"),
    ("\\[\n  x = 1\n\\]", "$$\n  x = 1\n$$"),
    (r"the sum \[x + y\] inline", "the sum $$x + y$$ inline"),
    (r"> \[ x \]", "> $$\n> x\n> $$"),
    (r"1. \[x\]", "1. $$\n   x\n   $$"),
    # Prices stay text; a formula by Pandoc's rule stays a formula.
    ("$5 and $10", r"\$5 and \$10"),
    ("from $5-$10 a day", r"from \$5-\$10 a day"),
    ("it costs $5.", r"it costs \$5."),
    ("$x$ and $y$", "$x$ and $y$"),
    ("$$\nE=mc^2\n$$", "$$\nE=mc^2\n$$"),
    (r"already \$5 escaped", r"already \$5 escaped"),
    # Code spans and code blocks are left exactly as written.
    (r"`\(x\)` and `$5`", r"`\(x\)` and `$5`"),
    (r"``a ` \(x\)`` then \(y\)", r"``a ` \(x\)`` then $y$"),
    ("```python\nprint('\\(x\\)', '$5')\n```", "```python\nprint('\\(x\\)', '$5')\n```"),
    ("~~~\n$5 and $10\n~~~\n\\(z\\)", "~~~\n$5 and $10\n~~~\n$z$"),
    # An escaped backslash is not a delimiter; an unclosed one, or one across paragraphs, stays.
    (r"\\(x\\)", r"\\(x\\)"),
    (r"\( x", r"\( x"),
    ("\\(a\n\nb\\)", "\\(a\n\nb\\)"),
    # A diagram still streaming shows as code until its block closes.
    ("```mermaid\ngraph TD\n  A --> B", "```text\ngraph TD\n  A --> B"),
    ("```mermaid\ngraph TD\n```", "```mermaid\ngraph TD\n```"),
    ("", ""),
]

REPLY = r"""Inline \(a^2\) and display:

\[\int_0^1 x\,dx\]

Prices: $5 and $10. Code: `\(x\)` stays.

Broken: \(\frac{1}{\) here.

Also $E=mc^2$ and \(\href{javascript:window.__pwned=2}{click}\).

```mermaid
graph TD
  A[Start] --> B[Done]
```

```mermaid
graph TD
  X["<img src=x onerror=window.__pwned=1>"] --> Y
```

```mermaid
this is not a diagram
```
"""


@pytest.fixture(scope="module")
def page(browser: Browser, app_server) -> Iterator[Page]:
    """One page for the rule's cases: they are pure, nothing they do changes the page."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(app_server.url)
    page.wait_for_function(
        "() => Boolean(window.chatMarkdown && window.chatMarkdown.normalizeMath)"
    )
    yield page
    context.close()


def test_the_rule_turns_every_delimiter_into_math_and_leaves_prices_and_code(page) -> None:
    got = page.evaluate(
        "cases => JSON.parse(cases).map((text) => window.chatMarkdown.normalizeMath(text))",
        json.dumps([written for written, _ in CASES]),
    )
    assert list(zip([w for w, _ in CASES], got, strict=True)) == CASES


def watch(page: Page) -> dict:
    """What the page asks for, and what its policy refused, from now on."""
    seen: dict = {"requests": [], "errors": [], "refused": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("console", lambda message: seen["refused"].append(message.text))
    return seen


def refused(seen: dict) -> list[str]:
    """What the Content-Security-Policy refused, but inline handlers in inert documents.

    Mermaid's sanitizer (DOMPurify) parses a label in a document of its own, where nothing
    can run; Chromium still reports an `onerror` there against the page's policy. Whether
    anything ran is what `window.__pwned` tells.
    """
    return [
        text
        for text in seen["refused"]
        if "Content Security Policy" in text and "inline event handler" not in text
    ]


def test_formulas_render_prices_and_code_stay_and_diagrams_draw_safely(
    app_server, open_page, fake
) -> None:
    fake.script(Reply(REPLY, chunk_size=12))
    page = open_page(app_server.url)
    seen = watch(page)
    # The diagram library is not part of the page: it loads when a reply has a diagram.
    loaded = "performance.getEntriesByType('resource').map((entry) => entry.name)"
    assert not any("mermaid" in url for url in page.evaluate(loaded))
    # Any element carrying an event handler that enters the page, even for a moment.
    page.evaluate(
        """() => {
            window.__handlers = [];
            const check = (el) => Array.from(el.attributes || []).forEach((attr) => {
                if (attr.name.toLowerCase().startsWith("on")) window.__handlers.push(el.outerHTML);
            });
            new MutationObserver((changes) => changes.forEach((change) => {
                change.addedNodes.forEach((node) => {
                    if (node.nodeType !== 1) return;
                    [node, ...node.querySelectorAll("*")].forEach(check);
                });
                if (change.type === "attributes") check(change.target);
            })).observe(document, { subtree: true, childList: true, attributes: true });
        }"""
    )
    send(page, "Show me some math and a diagram")
    wait_idle(page, 1)
    reply = page.locator(".chat-message-assistant").last

    # \(…\) inline, \[…\] as a display block, $…$ as before.
    paragraphs = reply.locator(".chat-markdown p")
    expect(paragraphs.nth(0).locator(".katex")).to_have_count(1)
    expect(paragraphs.nth(0)).not_to_contain_text("(a^2)")
    expect(reply.locator(".katex-display .katex")).to_have_count(1)
    expect(reply.locator(".katex-display")).to_contain_text("∫")
    expect(paragraphs.nth(3).locator(".katex")).to_have_count(2)

    # The price and the code span are untouched.
    expect(paragraphs.nth(1)).to_contain_text("Prices: $5 and $10. Code:")
    expect(paragraphs.nth(1).locator("code")).to_have_text(r"\(x\)")
    expect(paragraphs.nth(1).locator(".katex")).to_have_count(0)

    # A formula KaTeX cannot parse shows its source, in the text's colour, not an error's red.
    broken = paragraphs.nth(2).locator(".katex-error")
    expect(broken).to_have_text(r"\frac{1}{")
    colours = broken.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el.parentElement).color]"
    )
    assert colours[0] == colours[1], colours

    # Diagrams draw as SVG, the source one click away; one that does not parse shows its source.
    diagrams = reply.locator(".chat-mermaid")
    expect(diagrams).to_have_count(3)
    expect(diagrams.nth(0).locator(".chat-mermaid-diagram svg")).to_be_visible(timeout=20_000)
    expect(diagrams.nth(0).locator("svg")).to_contain_text("Start")
    source = diagrams.nth(0).locator("details.chat-mermaid-source")
    expect(source.locator("pre")).to_be_hidden()
    source.locator("summary").click()
    expect(source.locator("pre")).to_have_text("graph TD\n  A[Start] --> B[Done]")
    expect(diagrams.nth(2)).to_have_attribute("data-chat-mermaid", "failed", timeout=20_000)
    expect(diagrams.nth(2).locator("pre")).to_have_text("this is not a diagram")
    expect(diagrams.nth(1)).to_have_attribute("data-chat-mermaid", "drawn", timeout=20_000)

    # Nothing ran: not the label's <img onerror>, not KaTeX's \href.
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__handlers") == []
    expect(reply.locator("img")).to_have_count(0)
    expect(reply.locator("a[href^='javascript']")).to_have_count(0)

    # Everything came from this server, the library once, and the page's policy held.
    assert all(url.startswith((app_server.url, "data:", "blob:")) for url in seen["requests"])
    assert sum(url.split("?")[0].endswith("/mermaid.min.js") for url in seen["requests"]) == 1
    assert seen["errors"] == []
    assert refused(seen) == []


LIVE_BEFORE = "Live \\(b^2\\) math.\n\n```mermaid\ngraph LR\n  P[One] --> Q[Two]\n" + "".join(
    f"  Q --> R{i}[Node {i}]\n" for i in range(8)
)
LIVE_BEFORE += " " * (-len(LIVE_BEFORE) % 10)
LIVE_AFTER = "\n```\n\nDone.\n"


def test_the_live_reply_renders_math_and_draws_a_diagram_once_its_block_is_complete(
    app_server, open_page, fake
) -> None:
    gate = threading.Event()
    pieces = len(LIVE_BEFORE) // 10
    fake.script(
        Reply(LIVE_BEFORE + LIVE_AFTER, chunk_size=10, delay=0.02, stall_after=pieces, hold=gate)
    )
    page = open_page(app_server.url)
    send(page, "Draw while you write")
    live = page.locator("#chat-live-reply")
    try:
        expect(live.locator(".katex")).to_have_count(1, timeout=15_000)
        expect(live).to_contain_text("graph LR")
        # The block is not closed yet: code, not a diagram, and the library not asked for.
        expect(live.locator(".chat-mermaid")).to_have_count(0)
        expect(live.locator("pre").first).to_contain_text("P[One] --> Q[Two]")
    finally:
        gate.set()
    wait_idle(page, 1)
    reply = page.locator(".chat-message-assistant").last
    expect(reply.locator(".katex")).to_have_count(1)
    expect(reply.locator(".chat-mermaid svg")).to_be_visible(timeout=20_000)
    expect(reply).to_contain_text("Done.")
