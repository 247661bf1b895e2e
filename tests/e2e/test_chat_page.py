"""A newcomer's path through the chat page, in headless Chromium against a fake upstream."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.fake_upstream import Cut, Error, Reply

pytestmark = pytest.mark.e2e

LONG_REPLY = "\n\n".join(f"Paragraph {i}: " + "streaming words " * 12 for i in range(1, 25))


def conversation(request) -> list[dict]:
    """The user/assistant messages a request carried (the persona's system prompt aside)."""
    return [m for m in request.body["messages"] if m["role"] != "system"]


def send(page: Page, text: str) -> None:
    """Type a message and press Enter, as a user does."""
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def wait_idle(page: Page, replies: int) -> None:
    """Wait until `replies` assistant/error bubbles are settled and the composer is free."""
    expect(page.locator("#chat-send-button")).to_be_visible(timeout=15_000)
    expect(page.locator("#chat-stop-button")).to_be_hidden()
    expect(page.locator(".chat-message-assistant:not(.chat-message-live)")).to_have_count(replies)


def test_reply_streams_then_settles(app_server, open_page, fake):
    fake.script(Reply(LONG_REPLY, chunk_size=6, delay=0.01))
    page = open_page(app_server.url)
    send(page, "Tell me a long story")

    # Input cleared and locked, stop offered, while the reply grows piece by piece.
    expect(page.locator("#chat-input")).to_have_value("")
    expect(page.locator("#chat-input")).to_be_disabled()
    expect(page.locator("#chat-stop-button")).to_be_visible()
    live = page.locator("#chat-live-reply")
    expect(live).to_contain_text("Paragraph 1", timeout=10_000)
    partial = live.inner_text()
    assert "Paragraph 24" not in partial, "the whole reply arrived at once: nothing streamed"

    wait_idle(page, 1)
    expect(page.locator(".chat-message-user")).to_have_text(re.compile("Tell me a long story"))
    final = page.locator(".chat-message-assistant").last
    expect(final).to_contain_text("Paragraph 24: streaming words")
    expect(final.locator(".chat-usage")).to_be_visible()
    expect(page.locator("#chat-input")).to_be_enabled()

    # The thread followed the reply down to its end.
    at_bottom = page.eval_on_selector(
        "#chat-messages", "el => el.scrollHeight - el.scrollTop - el.clientHeight < 100"
    )
    assert at_bottom
    # The key went upstream from the server, never through the page.
    assert fake.requests[-1].headers["authorization"].startswith("Bearer sk-test-")
    assert "sk-test-" not in page.content()


MARKDOWN_REPLY = """**TCP** is reliable and ordered; **UDP** is fast and connectionless.

| | TCP | UDP |
|---|---|---|
| Connection | yes | no |
| Delivery guaranteed | yes | no |
| Typical use | web, email | video calls, games |

```python
import socket

with socket.create_connection(("example.com", 80)) as conn:
    conn.sendall(b"HEAD / HTTP/1.0\\r\\n\\r\\n")
    print(conn.recv(200))
```
"""


def test_markdown_reply_renders_code_and_table(app_server, open_page, fake):
    fake.script(Reply(MARKDOWN_REPLY, chunk_size=8))
    page = open_page(app_server.url)
    send(page, "Compare TCP and UDP in a table, then show a Python socket example")
    wait_idle(page, 1)
    reply = page.locator(".chat-message-assistant").last
    expect(reply.locator("table td").first).to_have_text("Connection")
    expect(reply.locator("pre").first).to_contain_text("socket.create_connection")
    expect(reply.locator("strong").first).to_have_text("TCP")
    # The picture in the README is this page.
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screenshot.png"))


def test_shift_enter_adds_a_line_and_does_not_send(app_server, open_page, fake):
    page = open_page(app_server.url)
    page.fill("#chat-input", "first line")
    page.press("#chat-input", "Shift+Enter")
    page.keyboard.type("second line")
    expect(page.locator("#chat-input")).to_have_value("first line\nsecond line")
    page.wait_for_timeout(300)
    assert fake.requests == []
    page.click("#chat-send-button")
    wait_idle(page, 1)
    assert fake.requests[-1].body["messages"][-1]["content"] == "first line\nsecond line"


def test_enter_while_an_ime_is_composing_does_not_send(app_server, open_page, fake):
    page = open_page(app_server.url)
    page.fill("#chat-input", "nihao")
    # What Chrome sends when Enter picks a candidate in a Chinese input method.
    page.eval_on_selector(
        "#chat-input",
        """el => el.dispatchEvent(new KeyboardEvent("keydown", {
            key: "Enter", code: "Enter", keyCode: 229, isComposing: true,
            bubbles: true, cancelable: true}))""",
    )
    page.wait_for_timeout(500)
    expect(page.locator("#chat-input")).to_have_value("nihao")
    expect(page.locator(".chat-message-user")).to_have_count(0)
    assert fake.requests == []


def test_multi_turn_on_sends_history_and_off_sends_only_the_question(app_server, open_page, fake):
    page = open_page(app_server.url)
    expect(page.locator("#multi-turn-switch")).to_have_attribute("aria-checked", "true")
    send(page, "My name is Ada")
    wait_idle(page, 1)
    send(page, "What is my name?")
    wait_idle(page, 2)
    roles = [(m["role"], m["content"]) for m in conversation(fake.requests[-1])]
    assert roles == [
        ("user", "My name is Ada"),
        ("assistant", "Echo: My name is Ada"),
        ("user", "What is my name?"),
    ]

    page.click("#multi-turn-switch")
    expect(page.locator("#multi-turn-switch")).to_have_attribute("aria-checked", "false")
    page.reload()  # the choice is remembered
    expect(page.locator("#multi-turn-switch")).to_have_attribute("aria-checked", "false")
    send(page, "Do you remember?")
    wait_idle(page, 3)
    assert conversation(fake.requests[-1]) == [{"role": "user", "content": "Do you remember?"}]


def test_conversation_survives_reload(app_server, open_page):
    page = open_page(app_server.url)
    send(page, "remember me")
    wait_idle(page, 1)
    page.reload()
    expect(page.locator(".chat-message-user")).to_have_text(re.compile("remember me"))
    expect(page.locator(".chat-message-assistant")).to_contain_text("Echo: remember me")


def test_export_downloads_the_conversation_as_markdown(app_server, open_page, fake):
    fake.script(Reply("**Bold** answer with `code`"))
    page = open_page(app_server.url)
    send(page, "export this")
    wait_idle(page, 1)
    with page.expect_download() as download_info:
        page.click("#export-markdown-button")
    download = download_info.value
    assert re.fullmatch(r"chat-\d{8}-\d{6}\.md", download.suggested_filename)
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert "gpt-4o-mini" in text
    assert "<!-- chat-message role=user -->\n### You\n\nexport this\n" in text
    assert "### Assistant\n\n**Bold** answer with `code`\n" in text
    # The conversation's totals: the fake's usage, priced with gpt-4o-mini's entry.
    assert re.search(r"^- Tokens: \d+ \(\d+ prompt \+ \d+ reply\)$", text, re.M)
    assert re.search(r"^- Estimated cost: <?\$[\d.]+$", text, re.M)


def test_clear_asks_first_then_empties_thread_and_context(app_server, open_page, fake):
    page = open_page(app_server.url)
    send(page, "something to forget")
    wait_idle(page, 1)

    page.click("#clear-history-button")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".chat-message-user")).to_have_count(1)

    page.click("#clear-history-button")
    page.locator(".ant-popconfirm").get_by_role("button", name="Clear").click()
    expect(page.locator(".chat-welcome")).to_be_visible()
    expect(page.locator(".chat-message")).to_have_count(0)
    page.reload()
    expect(page.locator(".chat-welcome")).to_be_visible()

    send(page, "fresh start")
    wait_idle(page, 1)
    assert conversation(fake.requests[-1]) == [{"role": "user", "content": "fresh start"}]


def test_stop_ends_the_reply_and_closes_the_upstream_request(app_server, open_page, fake):
    fake.script(Reply(LONG_REPLY * 3, chunk_size=4, delay=0.05))
    page = open_page(app_server.url)
    send(page, "go on forever")
    expect(page.locator("#chat-live-reply")).to_contain_text("Paragraph 1", timeout=10_000)
    page.click("#chat-stop-button")

    wait_idle(page, 1)
    stopped = page.locator(".chat-message-assistant").last
    expect(stopped).to_contain_text("You stopped this reply.")
    frozen = stopped.inner_text()
    page.wait_for_timeout(500)
    assert stopped.inner_text() == frozen, "text kept arriving after stop"
    assert fake.requests[-1].client_disconnected.wait(5), "the upstream request was not closed"

    send(page, "next question")
    wait_idle(page, 2)
    expect(page.locator(".chat-message-assistant").last).to_contain_text("Echo: next question")


def test_upstream_error_is_explained_and_retry_sends_the_question_again(
    app_server, open_page, fake
):
    fake.script(Error(429, "Rate limit reached for gpt-4o-mini", "rate_limit_exceeded"))
    page = open_page(app_server.url)
    send(page, "please answer")
    error = page.locator(".chat-message-error")
    expect(error).to_contain_text("Too many requests", timeout=10_000)
    expect(error).to_contain_text("Rate limit reached for gpt-4o-mini")
    expect(page.locator(".chat-message-user")).to_have_text(re.compile("please answer"))
    expect(page.locator("#chat-input")).to_be_enabled()

    error.get_by_role("button", name="Retry").click()
    wait_idle(page, 1)
    expect(page.locator(".chat-message-error")).to_have_count(0)
    expect(page.locator(".chat-message-assistant")).to_contain_text("Echo: please answer")
    assert [r.body["messages"][-1]["content"] for r in fake.requests] == ["please answer"] * 2


def test_a_reply_cut_midway_keeps_its_text_and_says_so(app_server, open_page, fake):
    fake.script(Cut("The first half of an answer that", chunk_size=5, delay=0.01))
    page = open_page(app_server.url)
    send(page, "cut me off")
    expect(page.locator(".chat-message-error")).to_contain_text("cut", timeout=10_000)
    partial = page.locator(".chat-message-assistant").last
    expect(partial).to_contain_text("The first half of an answer that")
    expect(partial).to_contain_text("cut off")
    send(page, "still there?")
    wait_idle(page, 2)
    expect(page.locator(".chat-message-assistant").last).to_contain_text("Echo: still there?")


def test_model_html_and_javascript_links_never_execute(app_server, open_page, fake):
    payload = (
        "Hi <img src=x onerror=\"window.__xss='img'\"> "
        "<script>window.__xss='script'</script>\n\n"
        "[click me](javascript:window.__xss='link') and "
        "[also](JaVaScRiPt:window.__xss='case') and "
        "<a href=\"javascript:window.__xss='raw'\">raw</a>"
    )
    fake.script(Reply(payload))
    page = open_page(app_server.url)
    send(page, "say something nasty")
    wait_idle(page, 1)
    reply = page.locator(".chat-message-assistant").last
    expect(reply.locator("img")).to_have_count(0)
    expect(reply.locator("script")).to_have_count(0)
    hrefs = reply.locator("a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert all(h is None or not h.lower().startswith("javascript") for h in hrefs), hrefs
    # Under the CSP (no eval), fmc's own check sends non-web links to the "blocked" page.
    assert any(h and h.startswith("blocked-link?to=javascript") for h in hrefs), hrefs
    page.get_by_text("click me").click()
    page.get_by_text("also").click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None


def test_the_live_reply_is_as_safe_as_the_finished_one(app_server, open_page, fake):
    """The page draws the streaming reply itself (assets/chat.js): raw HTML and script links
    must be as dead there as in the finished message, while the text is still arriving."""
    nasty = (
        "Hi <img src=x onerror=\"window.__xss='img'\"> <script>window.__xss='s'</script>\n\n"
        "[click me](javascript:window.__xss='link')\n\n"
    )
    fake.script(Reply(nasty + LONG_REPLY, chunk_size=8, delay=0.02))
    page = open_page(app_server.url)
    send(page, "say something nasty, slowly")
    live = page.locator("#chat-live-reply")
    expect(live).to_contain_text("Paragraph 1", timeout=10_000)
    expect(page.locator("#chat-stop-button")).to_be_visible()  # still streaming
    expect(live.locator("img")).to_have_count(0)
    expect(live.locator("script")).to_have_count(0)
    href = live.get_by_text("click me").get_attribute("href")
    assert href and href.startswith("blocked-link?to=javascript"), href
    live.get_by_text("click me").click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    page.click("#chat-stop-button")


def test_a_new_turn_leaves_the_earlier_messages_in_place(app_server, open_page, fake):
    """A finished turn fills the empty container at the thread's end; the messages already
    on screen are not drawn again (Dash mounts every child of a list anew when the list
    changes, which made long conversations slow)."""
    page = open_page(app_server.url)
    send(page, "first question")
    wait_idle(page, 1)
    send(page, "second question")
    wait_idle(page, 2)
    page.evaluate(
        "window.__kept = document.querySelector('.chat-message-assistant .chat-markdown')"
    )

    send(page, "third question")
    wait_idle(page, 3)

    assert page.evaluate("document.body.contains(window.__kept)") is True
    expect(page.locator(".chat-message-assistant").last).to_contain_text("Echo: third question")


def test_empty_message_is_refused_with_a_notice(app_server, open_page, fake):
    page = open_page(app_server.url)
    page.fill("#chat-input", "   ")
    page.click("#chat-send-button")
    expect(page.locator(".chat-message-error")).to_contain_text("Type a message first")
    assert fake.requests == []


def test_too_long_message_is_refused_and_kept_in_the_box(start_app, open_page, fake):
    app = start_app(MAX_INPUT_CHARS="50")
    page = open_page(app.url)
    text = "x" * 51
    send(page, text)
    expect(page.locator(".chat-message-error")).to_contain_text("51 characters; the limit is 50")
    expect(page.locator("#chat-input")).to_have_value(text)
    assert fake.requests == []
    page.fill("#chat-input", "short enough")
    page.press("#chat-input", "Enter")
    wait_idle(page, 1)
    expect(page.locator(".chat-message-error")).to_have_count(0)


def test_without_a_key_users_are_told_to_ask_and_the_log_says_how_to_set_it(
    start_app, open_page, fake
):
    app = start_app(OPENAI_API_KEY="", OPENAI_BASE_URL="")
    page = open_page(app.url)
    alert = page.locator(".app-alert")
    expect(alert).to_contain_text("not set up yet")
    expect(alert).to_contain_text("tell whoever runs it")
    send(page, "hello?")
    error = page.locator(".chat-message-error")
    expect(error).to_contain_text("not set up for this model", timeout=10_000)
    expect(page.locator(".chat-message-user")).to_have_text(re.compile("hello"))
    # Words for the operator are in the operator's log, not in the thread.
    assert ".env" not in error.inner_text() and ".env" not in alert.inner_text()
    assert "No API key is configured" in app.log() and "OPENAI_API_KEY" in app.log()
    assert fake.requests == []


def test_chinese_browser_gets_chinese_and_the_switch_changes_language(app_server, open_page):
    page = open_page(app_server.url, locale="zh-CN")
    expect(page.locator("#chat-input")).to_have_attribute("placeholder", re.compile("发消息"))
    expect(page.locator(".chat-welcome")).to_contain_text("有什么可以帮你")

    page.get_by_text("English", exact=True).click()
    expect(page.locator("#chat-input")).to_have_attribute(
        "placeholder", re.compile("Message the assistant"), timeout=10_000
    )


def test_example_prompt_fills_the_message_box(app_server, open_page):
    page = open_page(app_server.url)
    first = page.locator(".chat-example").first
    # The default persona's own examples (personas.yaml).
    expect(first).to_have_text("Explain how vaccines work in simple terms")
    first.click()
    expect(page.locator("#chat-input")).to_have_value("Explain how vaccines work in simple terms")
