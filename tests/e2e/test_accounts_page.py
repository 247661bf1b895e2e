"""ACCOUNTS=true as people meet it, in Chromium: the sign-in form, each user's own sidebar in
any browser, sign-up with the code, sign-out, the login page's two languages, API tokens in the
settings drawer, and a user disabled mid-conversation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from services.accounts import Accounts
from services.records.repository import Records
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> tuple[str, Accounts, Records]:
    url = f"sqlite:///{tmp_path_factory.mktemp('accounts')}/chat.db"
    records = Records(url)
    records.upgrade()
    accounts = Accounts(records)
    for name in ("amy", "bob", "cy"):
        accounts.add_user(name, f"{name}-password")
    for name, title in (("amy", "Amy's fractions"), ("bob", "Bob's volcanoes")):
        owner = accounts.by_name(name).id
        cid = records.create_conversation(owner, title=title)
        records.add_message(owner, cid, {"role": "user", "content": title})
    return url, accounts, records


@pytest.fixture(scope="module")
def app(start_app, db):
    url, _, _ = db
    return start_app(ACCOUNTS="true", DATABASE_URL=url, SIGNUP_CODE="board-2026")


@pytest.fixture
def contexts(browser: Browser):
    made: list[BrowserContext] = []

    def new(locale: str = "en-US") -> BrowserContext:
        context = browser.new_context(locale=locale, viewport={"width": 1100, "height": 760})
        made.append(context)
        return context

    yield new
    for context in made:
        context.close()


def sign_in(page: Page, url: str, name: str) -> None:
    page.goto(url)
    page.fill("#login-username", name)
    page.fill("#login-password", f"{name}-password")
    page.click("#login-submit")
    expect(page.locator(".chat-welcome")).to_be_visible(timeout=20_000)


def titles(page: Page):
    return page.locator(".sidebar-title")


def send(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def test_sign_in_chat_and_sign_out(app, contexts, fake):
    page = contexts().new_page()
    page.goto(app.url)
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#login-username", "amy")
    page.fill("#login-password", "not-her-password")
    page.click("#login-submit")
    expect(page.locator("[role=alert]")).to_have_text(re.compile("Wrong name or password"))
    expect(page.locator("#login-username")).to_have_value("amy")  # kept; the password is not
    expect(page.locator("#login-password")).to_have_value("")
    sign_in(page, app.url, "amy")
    fake.script(Reply("Half of a half is a quarter."))
    send(page, "What is half of a half?")
    expect(page.locator(".chat-message-assistant:not(.chat-message-live)")).to_contain_text(
        "a quarter", timeout=15_000
    )
    page.click("#header-logout-button")
    expect(page.locator("#login-form")).to_be_visible()
    assert page.request.get(app.url + "/_dash-layout").status == 401


def test_two_users_see_only_their_own_sidebars(app, contexts):
    amy, bob = contexts().new_page(), contexts().new_page()
    sign_in(amy, app.url, "amy")
    sign_in(bob, app.url, "bob")
    expect(titles(amy).filter(has_text="Amy's fractions")).to_have_count(1)
    expect(titles(bob).filter(has_text="Bob's volcanoes")).to_have_count(1)
    expect(titles(amy).filter(has_text="Bob's volcanoes")).to_have_count(0)
    expect(titles(bob).filter(has_text="Amy's fractions")).to_have_count(0)
    expect(bob.locator(".sidebar-item")).to_have_count(1)


def test_one_user_in_two_browsers_sees_the_same_list(app, contexts, fake):
    first, second = contexts().new_page(), contexts().new_page()
    sign_in(first, app.url, "bob")
    sign_in(second, app.url, "bob")
    fake.script(Reply("Lava is molten rock."))
    send(first, "What is lava?")
    expect(titles(first).filter(has_text="What is lava?")).to_have_count(1, timeout=15_000)
    second.reload()
    expect(titles(second).filter(has_text="What is lava?")).to_have_count(1, timeout=15_000)
    expect(titles(second).filter(has_text="Bob's volcanoes")).to_have_count(1)
    titles(second).filter(has_text="What is lava?").click()
    expect(second.locator(".chat-message-assistant")).to_contain_text("molten rock")


def test_sign_up_with_the_code(app, contexts, db):
    _, accounts, _ = db
    page = contexts().new_page()
    page.goto(app.url)
    page.click("#signup-link")
    page.fill("#signup-username", "dee")
    page.fill("#signup-password", "dee-password")
    page.fill("#signup-password2", "dee-password")
    page.fill("#signup-code", "board-2025")
    page.click("#signup-submit")
    expect(page.locator("[role=alert]")).to_contain_text("sign-up code is not right")
    expect(page.locator("#signup-username")).to_have_value("dee")
    page.fill("#signup-password", "dee-password")
    page.fill("#signup-password2", "dee-password")
    page.fill("#signup-code", "board-2026")
    page.click("#signup-submit")
    expect(page.locator(".chat-welcome")).to_be_visible(timeout=20_000)
    expect(page.locator(".sidebar-item")).to_have_count(0)
    assert accounts.by_name("dee").role == "user"


@pytest.mark.parametrize(
    ("locale", "name", "submit", "signup"),
    [("en-US", "Name", "Sign in", "Create an account"), ("zh-CN", "用户名", "登录", "注册账号")],
)
def test_the_login_page_speaks_the_browsers_language(app, contexts, locale, name, submit, signup):
    page = contexts(locale).new_page()
    page.goto(app.url)
    expect(page.locator("#login-username")).to_have_attribute("placeholder", name)
    expect(page.locator("#login-submit")).to_have_text(submit)
    expect(page.locator("#signup-link")).to_have_text(signup)


def test_api_tokens_in_the_settings_drawer(app, contexts, db):
    _, accounts, _ = db
    page = contexts().new_page()
    sign_in(page, app.url, "amy")
    page.click("#header-settings-button")
    expect(page.locator(".api-tokens-none")).to_be_visible()
    page.fill("#api-token-name", "<b>grading</b>")
    page.click("#api-token-create")
    shown = page.locator(".api-token-value")
    expect(shown).to_contain_text("cgpt_")
    token = shown.inner_text().strip()
    assert accounts.user_for_token(token).username == "amy"
    row = page.locator(".api-token-row")
    expect(row).to_have_count(1)
    expect(row.locator(".api-token-name")).to_have_text("<b>grading</b>")  # text, not markup
    # The token works for scripts, as amy.
    answered = page.context.request.get(
        app.url + "/api/chat/running?conversation_id=x",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answered.status == 200
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".api-tokens-none")).to_be_visible()
    assert accounts.user_for_token(token) is None


def test_a_user_disabled_mid_conversation_is_sent_to_the_login_and_keeps_the_question(
    app, contexts, db
):
    _, accounts, _ = db
    page = contexts().new_page()
    sign_in(page, app.url, "cy")
    accounts.set_disabled("cy", True)
    try:
        send(page, "Am I still here?")
        # The next request is refused: the page goes to the login.
        expect(page.locator("#login-form")).to_be_visible(timeout=15_000)
    finally:
        accounts.set_disabled("cy", False)
    # Once signed in again (an admin enabled the account), the question is back in the box.
    page.fill("#login-username", "cy")
    page.fill("#login-password", "cy-password")
    page.click("#login-submit")
    expect(page.locator("#chat-input")).to_have_value("Am I still here?", timeout=20_000)
