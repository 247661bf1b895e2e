"""TEAMS_TAB=true in Chromium: the app inside an iframe of another site, as Teams shows a tab.

The parent page is served from http://localhost:<port> and frames the app on
http://127.0.0.1:<port>: another site, so the browser applies frame-ancestors, SameSite and
Sec-Fetch-Site exactly as it does under Teams (both hosts count as secure for Secure cookies).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser, Page, expect

from services.accounts import Accounts
from services.records.repository import Records
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

PASSWORD = "tab-pass"


class ParentSite:
    """A page on http://localhost:<free port> holding the app in `<iframe id="tab">`, and a
    form that posts a password into that frame from the parent (a forged sign-in)."""

    def __init__(self) -> None:
        self.frame_src = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                src = escape(site.frame_src, quote=True)
                body = (
                    "<!doctype html><html><head><title>Parent</title>"
                    # What the framed page tells its host (TeamsJS posts its calls up).
                    "<script>window.told=[];addEventListener('message',function(e){"
                    "if(e.data&&e.data.func)window.told.push(e.data.func)})</script>"
                    "</head><body>"
                    f'<iframe id="tab" name="tab" src="{src}/" '
                    'style="width:1100px;height:720px;border:0"></iframe>'
                    f'<form id="forged" method="post" action="{src}/login" target="tab">'
                    f'<input type="hidden" name="password" value="{PASSWORD}"></form>'
                    "</body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def parents() -> Iterator[tuple[ParentSite, ParentSite]]:
    """Two parent sites: the first is listed in FRAME_ANCESTORS, the second is not."""
    allowed, other = ParentSite(), ParentSite()
    yield allowed, other
    allowed.close()
    other.close()


@pytest.fixture(scope="module")
def tab_app(start_app, parents):
    allowed, other = parents
    app = start_app(TEAMS_TAB="true", FRAME_ANCESTORS=allowed.url, ACCESS_PASSWORD=PASSWORD)
    allowed.frame_src = other.frame_src = app.url
    return app


@pytest.fixture(scope="module")
def accounts_tab(start_app, tmp_path_factory) -> Iterator[tuple[ParentSite, object]]:
    """ACCOUNTS=true behind TEAMS_TAB, with one user, framed by its own parent site."""
    url = f"sqlite:///{tmp_path_factory.mktemp('tab-accounts')}/chat.db"
    Records(url).upgrade()
    Accounts(Records(url)).add_user("amy", "amy-password")
    parent = ParentSite()
    app = start_app(TEAMS_TAB="true", FRAME_ANCESTORS=parent.url, ACCOUNTS="true", DATABASE_URL=url)
    parent.frame_src = app.url
    yield parent, app
    parent.close()


@pytest.fixture(scope="module")
def records_off_tab(start_app) -> Iterator[ParentSite]:
    """RECORDS_ENABLED=false behind TEAMS_TAB: conversations live in the browser's storage,
    which a third-party frame may not have."""
    parent = ParentSite()
    app = start_app(TEAMS_TAB="true", FRAME_ANCESTORS=parent.url, RECORDS_ENABLED="false")
    parent.frame_src = app.url
    yield parent
    parent.close()


@pytest.fixture
def parent_page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 800})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    yield page, console
    context.close()


def test_sign_in_and_chat_inside_the_frame(tab_app, parents, parent_page, fake):
    allowed, _ = parents
    page, _ = parent_page
    page.goto(allowed.url)
    tab = page.frame_locator("#tab")
    expect(tab.locator("#login-form")).to_be_visible(timeout=20_000)
    # The sign-in page already tells the host it has loaded (TeamsJS app.initialize).
    page.wait_for_function("window.told.includes('initialize')", timeout=20_000)
    page.evaluate("window.told.length = 0")
    tab.locator("#login-password").fill(PASSWORD)
    tab.locator("#login-submit").click()
    expect(tab.locator(".chat-welcome")).to_be_visible(timeout=20_000)
    # And so does the chat page.
    page.wait_for_function("window.told.includes('initialize')", timeout=20_000)
    # The sign-in stayed in the frame: the parent page is still the parent page.
    assert page.url.rstrip("/") == allowed.url
    assert page.frame(name="tab").url.startswith(tab_app.url)

    # The session cookie came back on the frame's own requests (SameSite=None; Secure).
    cookies = {c["name"]: c for c in page.context.cookies(tab_app.url)}
    assert cookies["chat_session"]["sameSite"] == "None"
    assert cookies["chat_session"]["secure"] is True

    fake.script(Reply("Hello from inside the tab", chunk_size=5))
    tab.locator("#chat-input").fill("hello")
    tab.locator("#chat-input").press("Enter")
    reply = tab.locator(".chat-message-assistant").last
    expect(reply).to_contain_text("Hello from inside the tab", timeout=20_000)
    assert fake.requests[-1].body["messages"][-1]["content"] == "hello"

    # The language cookie, set by the page's script, also sticks in the frame.
    tab.locator("#header-language-switch").get_by_text("简体中文").click()
    expect(tab.locator("html")).to_have_attribute("lang", re.compile("^zh"), timeout=20_000)
    expect(tab.locator("#chat-input")).to_be_visible()
    assert page.url.rstrip("/") == allowed.url


def test_accounts_sign_in_inside_the_frame(accounts_tab, parent_page, fake):
    parent, app = accounts_tab
    page, _ = parent_page
    page.goto(parent.url)
    tab = page.frame_locator("#tab")
    expect(tab.locator("#login-username")).to_be_visible(timeout=20_000)
    tab.locator("#login-username").fill("amy")
    tab.locator("#login-password").fill("amy-password")
    tab.locator("#login-submit").click()
    expect(tab.locator(".chat-welcome")).to_be_visible(timeout=20_000)
    # Signed in without leaving the frame.
    assert page.url.rstrip("/") == parent.url
    assert page.frame(name="tab").url.startswith(app.url)
    fake.script(Reply("Hello, Amy"))
    tab.locator("#chat-input").fill("hello")
    tab.locator("#chat-input").press("Enter")
    expect(tab.locator(".chat-message-assistant").last).to_contain_text("Hello, Amy")
    # Her conversation is on record under her account, as in the browser.
    expect(tab.locator(".sidebar-item").filter(has_text="hello")).to_have_count(1)


def test_records_off_in_a_frame_without_browser_storage(records_off_tab, parent_page, fake):
    page, console = parent_page
    page.goto(records_off_tab.url)
    tab = page.frame_locator("#tab")
    expect(tab.locator(".chat-welcome")).to_be_visible(timeout=20_000)
    fake.script(Reply("First answer"), Reply("Second answer"))
    for question, answer in (("first question", "First answer"), ("next one", "Second answer")):
        tab.locator("#chat-input").fill(question)
        tab.locator("#chat-input").press("Enter")
        expect(tab.locator(".chat-message-assistant").last).to_contain_text(answer)
    # Multi-turn: the second question went with the first round (kept in memory).
    sent = [m["content"] for m in fake.requests[-1].body["messages"] if m["role"] == "user"]
    assert sent[-2:] == ["first question", "next one"]
    expect(tab.locator(".sidebar-item").filter(has_text="first question")).to_have_count(1)
    assert not [text for text in console if "localStorage" in text]


def test_the_parent_page_cannot_sign_in_for_the_frame(tab_app, parents, parent_page):
    allowed, _ = parents
    page, _ = parent_page
    page.goto(allowed.url)
    tab = page.frame_locator("#tab")
    expect(tab.locator("#login-form")).to_be_visible(timeout=20_000)
    # The parent posts the right password into the frame: a cross-site POST, refused.
    page.eval_on_selector("#forged", "form => form.submit()")
    expect(tab.locator("body")).to_contain_text("Cross-site requests are refused")
    page.reload()
    expect(tab.locator("#login-form")).to_be_visible(timeout=20_000)


def test_a_site_not_listed_cannot_frame_the_app(tab_app, parents, parent_page):
    _, other = parents
    page, _ = parent_page
    # Chromium refuses the frame and says why on the parent's console.
    refused = re.compile(r"Framing .* violates .*frame-ancestors .*blocked", re.S)
    with page.expect_console_message(lambda m: bool(refused.search(m.text)), timeout=20_000):
        page.goto(other.url)
    frame = page.frame(name="tab")
    assert frame is not None and not frame.url.startswith(tab_app.url)
    assert frame.locator("#login-form, #chat-input").count() == 0
