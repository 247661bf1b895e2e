"""The admin console (/admin, ACCOUNTS=true) in Chromium, from seeded records: an admin sees
the chart, the totals and every table; HTML in a title or a comment shows as text; an admin
reads a conversation and creates a user; a user who is not an admin gets a 403."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import update

from services.accounts import Accounts
from services.records.models import Message, UsageEvent, utcnow
from services.records.repository import Records
from tests.admin_seed import PASSWORD, seed
from tests.e2e.test_chat_page import send, wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

HTML = '<img src=x onerror="window.__ran = 1">'
COMMENT = "<script>window.__ran = 2</script> wrong"
# A model name can come from an imported file: Plotly must show it, not read its tags.
MODEL = "<b>bold</b> & model"
ROWS = ".ant-table-tbody .ant-table-row"


@pytest.fixture(scope="module")
def console(start_app, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('admin-page')}/chat.db"
    records = Records(url)
    records.upgrade()
    seeded = seed(records._writer, users=20, messages=400)
    owner = seeded["users"][5]
    cid = records.create_conversation(owner)
    records.add_message(owner, cid, {"role": "user", "content": f"what is {HTML}?"})
    records.add_message(
        owner, cid, {"role": "assistant", "content": f"It is **markup**: {HTML}", "status": "done"}
    )
    records.rename(owner, cid, HTML)
    with records._writer.begin() as connection:
        connection.execute(
            update(Message)
            .where(Message.conversation_id == cid, Message.role == "assistant")
            .values(feedback="down", feedback_comment=COMMENT, feedback_at=Message.created_at)
        )
        connection.execute(
            UsageEvent.__table__.insert().values(
                at=utcnow(), owner=owner, source="page", model=MODEL, prompt_tokens=9**6
            )
        )
        # A model priced in yuan beside the seed's dollars: never one sum.
        connection.execute(
            UsageEvent.__table__.insert().values(
                at=utcnow(),
                owner=owner,
                source="page",
                model="deepseek-chat",
                prompt_tokens=10,
                cost=1000.0,
                currency="CNY",
            )
        )
    records.close()
    return start_app(ACCOUNTS="true", DATABASE_URL=url)


def signed_in(browser: Browser, app, name: str) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    answer = context.request.post(f"{app.url}/login", data={"username": name, "password": PASSWORD})
    assert answer.ok, answer.text()
    return context


def open_console(context: BrowserContext, app) -> Page:
    page = context.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    page.errors = []  # what the browser said went wrong (a refused script or worker, ...)
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    response = page.goto(f"{app.url}/admin")
    assert response.status == 200
    return page


def test_the_console_draws_the_chart_and_the_tables_from_the_records(browser, console):
    context = signed_in(browser, console, "admin")
    try:
        page = open_console(context, console)
        # The chart's bars, one trace per model, and the feedback line.
        expect(page.locator("#admin-usage-graph .barlayer .trace").first).to_be_visible(
            timeout=20_000
        )
        expect(page.locator("#admin-feedback-graph .scatterlayer .trace")).to_have_count(1)
        expect(page.locator("#admin-totals .ant-statistic")).to_have_count(12)
        # Plotly's worker is allowed, and nothing the page loads is refused or fails.
        assert page.errors == []
        expect(page.locator(f"#admin-users-table {ROWS}")).to_have_count(10)
        expect(page.locator("#admin-users-table")).to_contain_text("admin")
        expect(page.locator("#admin-section-users")).to_contain_text("Total 20 rows")
        expect(page.locator(f"#admin-conversations-table {ROWS}")).to_have_count(10)
        expect(page.locator(f"#admin-feedback-table {ROWS}")).to_have_count(10)
        expect(page.locator(f"#admin-audit-table {ROWS}").first).to_be_visible()

        # Markup in a title, a comment or a model name is text: shown as written, never run.
        legend = page.locator("#admin-usage-graph .legendtext")
        expect(legend.filter(has_text="bold")).to_have_text(MODEL)
        expect(page.locator("#admin-usage-graph .legend b")).to_have_count(0)
        newest = page.locator(f"#admin-conversations-table {ROWS}").first
        expect(newest).to_contain_text(HTML)
        expect(page.locator(f"#admin-feedback-table {ROWS}").first).to_contain_text(COMMENT)
        expect(page.locator("img[src='x']")).to_have_count(0)
        assert page.evaluate("window.__ran") is None

        # Read it: the drawer shows the messages as plain text, the reply's Markdown as written.
        newest.locator(".ant-radio-input").check()
        page.locator("#admin-conversation-open-button").click()
        drawer = page.locator(".ant-drawer-content")
        expect(drawer).to_contain_text(f"what is {HTML}?")
        expect(drawer).to_contain_text("**markup**")
        expect(drawer).to_contain_text(HTML)
        expect(page.locator("img[src='x']")).to_have_count(0)
        assert page.evaluate("window.__ran") is None
    finally:
        context.close()


def test_the_cost_is_per_currency_and_the_chart_draws_one(browser, console):
    context = signed_in(browser, console, "admin")
    try:
        page = open_console(context, console)
        today = page.locator("#admin-totals .admin-total-cost").first
        expect(today).to_contain_text("¥1,000.00")
        picker = page.locator("#admin-usage-currency-box")
        expect(picker).to_be_hidden()  # tokens: no currency to pick
        title = page.locator("#admin-usage-graph .gtitle")
        page.locator("#admin-usage-metric .ant-segmented-item", has_text="Cost").click()
        # The currency spent most is drawn first; the picker offers the other.
        expect(title).to_have_text("Cost in CNY per day, by model")
        expect(picker).to_be_visible()
        # One model in yuan: one series (Plotly shows no legend for it), yuan on the axis.
        expect(page.locator("#admin-usage-graph .barlayer .trace")).to_have_count(1)
        expect(page.locator("#admin-usage-graph .ytick text").last).to_contain_text("¥")
        picker.locator(".ant-segmented-item", has_text="USD").click()
        expect(title).to_have_text("Cost in USD per day, by model")
        expect(page.locator("#admin-usage-graph .ytick text").last).to_contain_text("$")
        legend = page.locator("#admin-usage-graph .legendtext")
        expect(legend.first).to_be_visible()  # the seed's models, priced in dollars
        expect(legend.filter(has_text="deepseek")).to_have_count(0)
        page.locator("#admin-usage-metric .ant-segmented-item", has_text="Tokens").click()
        expect(title).to_have_text("Tokens per day, by model")
        expect(picker).to_be_hidden()
        assert page.errors == []
    finally:
        context.close()


def test_an_admin_creates_a_user_and_the_audit_says_so(browser, console):
    context = signed_in(browser, console, "admin")
    try:
        page = open_console(context, console)
        users = page.locator("#admin-section-users")
        expect(users).to_contain_text("Total 2", timeout=20_000)
        # Paged by the server: page 2 holds the next ten names.
        users.locator(".ant-pagination-item-2").click()
        expect(users.locator(ROWS).first).to_contain_text("student010")
        expect(users.locator(ROWS)).to_have_count(10)
        page.locator("#admin-user-create-button").click()
        page.locator("#admin-user-create-name").fill("teacher.li")
        page.locator("#admin-user-create-password").fill("a-long-password-1")
        page.get_by_role("dialog", name="New user").get_by_role("button", name="OK").click()
        expect(page.locator(".ant-message")).to_contain_text("Created teacher.li")
        page.locator("#admin-users-search").fill("teacher")
        expect(page.locator(f"#admin-users-table {ROWS}")).to_have_count(1)
        expect(page.locator(f"#admin-users-table {ROWS}")).to_contain_text("teacher.li")
        audit = page.locator(f"#admin-audit-table {ROWS}").first
        expect(audit).to_contain_text("user.create")
        expect(audit).to_contain_text("teacher.li")
    finally:
        context.close()


def test_a_user_who_is_not_an_admin_gets_403(browser, console):
    context = signed_in(browser, console, "student003")
    try:
        page = context.new_page()
        response = page.goto(f"{console.url}/admin")
        assert response.status == 403
        expect(page.locator("h1")).to_have_text("Forbidden (403)")
        assert page.locator("#admin-users-table").count() == 0
    finally:
        context.close()


def test_a_students_thumbs_down_and_usage_show_in_the_console(browser, start_app, fake, tmp_path):
    """The whole path: a student chats and gives 👎 with a comment in the page; the admin's
    console shows that feedback with its question, the student's tokens today, and the reply
    in the chart (usage_events written at the reply's end)."""
    url = f"sqlite:///{tmp_path}/together.db"
    records = Records(url)
    records.upgrade()
    accounts = Accounts(records)
    accounts.add_user("ms-lee", PASSWORD, admin=True)
    accounts.add_user("amy", PASSWORD)
    records.close()
    app = start_app(ACCOUNTS="true", DATABASE_URL=url)

    student = signed_in(browser, app, "amy")
    try:
        page = student.new_page()
        page.goto(app.url)
        page.wait_for_selector(".chat-welcome", timeout=20_000)
        fake.script(Reply("Photosynthesis makes sugar from light."))
        send(page, "What is photosynthesis?")
        wait_idle(page, 1)
        reply = page.locator("#chat-history-list .chat-message-assistant").first
        with page.expect_response(lambda r: r.url.endswith("/api/chat/feedback")):
            reply.locator(".chat-feedback-down").click()
        box = reply.locator(".chat-feedback-comment")
        box.fill(COMMENT)
        with page.expect_response(lambda r: r.url.endswith("/api/chat/feedback")):
            box.press("Enter")
    finally:
        student.close()

    admin = signed_in(browser, app, "ms-lee")
    try:
        page = open_console(admin, app)
        feedback = page.locator(f"#admin-feedback-table {ROWS}")
        expect(feedback).to_have_count(1, timeout=20_000)
        for text in ("👎", COMMENT, "amy", "What is photosynthesis?", "Photosynthesis makes"):
            expect(feedback).to_contain_text(text)
        amy = page.locator(f"#admin-users-table {ROWS}", has_text="amy")
        assert int(amy.locator("td").nth(5).inner_text().replace(",", "")) > 0
        expect(page.locator("#admin-usage-graph .barlayer .trace")).to_have_count(1)
        expect(page.locator("img[src='x']")).to_have_count(0)
    finally:
        admin.close()
