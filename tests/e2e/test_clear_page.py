"""Clear empties the open conversation where it is kept, and the sidebar follows one rule: a
conversation with no messages is not listed (README, "Conversations on the server")."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from i18n import t
from services.records.repository import Records
from tests.e2e.test_chat_page import LONG_REPLY, send, wait_idle
from tests.e2e.test_records_page import owner_of
from tests.e2e.test_sidebar_page import chat, titles
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e


@pytest.fixture
def store(tmp_path):
    records = Records(f"sqlite:///{tmp_path}/records.db")
    yield records
    records.close()


def on_record(store: Records, owner: str, cid: str, count: int) -> list[dict]:
    """The conversation's entries once it has `count` (the page hears of a reply's end just
    before the server's record of it is written)."""
    deadline = time.monotonic() + 10
    while len(store.history(owner, cid) or []) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return store.history(owner, cid)


def clear(page: Page) -> None:
    page.click("#clear-history-button")
    confirm = page.locator(".ant-popconfirm")
    expect(confirm).to_contain_text(t("en", "header.clear_confirm"))
    confirm.get_by_role("button", name="Clear").click()


def test_clear_empties_the_record_and_the_sidebar_entry_until_the_next_question(
    start_app, open_page, fake, store
):
    app = start_app(DATABASE_URL=str(store.engine.url))
    page = open_page(app.url)
    chat(page, "first topic")
    chat(page, "second topic")
    owner = owner_of(page)
    ids = {c["title"]: c["id"] for c in store.list_conversations(owner)}
    first, second = ids["first topic"], ids["second topic"]
    kept = on_record(store, owner, first, 2)
    assert [e["role"] for e in on_record(store, owner, second, 2)] == ["user", "assistant"]
    expect(page.locator("#header-usage")).not_to_have_text("")  # the fake's usage

    clear(page)  # the open conversation: the second
    expect(page.locator(".chat-welcome")).to_be_visible()
    expect(page.locator(".chat-message")).to_have_count(0)
    # Gone from the list (it has no messages), the other still there.
    expect(page.locator(".sidebar-title")).to_have_text(["first topic"])
    # The records: nothing left of it, the other untouched.
    assert store.history(owner, second) == []
    cleared = store.conversation(owner, second)
    assert (cleared["title"], cleared["prompt_tokens"], cleared["completion_tokens"]) == ("", 0, 0)
    assert store.history(owner, first) == kept
    # The header's totals are reset, and there is nothing to export.
    expect(page.locator("#header-usage")).to_have_text("")
    page.click("#export-markdown-button")
    expect(page.locator(".ant-message")).to_contain_text(t("en", "export.empty"))
    page.reload()
    expect(page.locator(".chat-welcome")).to_be_visible()
    expect(page.locator(".sidebar-title")).to_have_text(["first topic"])

    # The next question goes to the same conversation, listed again under its title.
    send(page, "a fresh start")
    wait_idle(page, 1)
    expect(page.locator(".sidebar-title")).to_have_text(["a fresh start", "first topic"])
    expect(page.locator(".sidebar-item-active")).to_contain_text("a fresh start")
    assert [(e["role"], e["content"]) for e in on_record(store, owner, second, 2)] == [
        ("user", "a fresh start"),
        ("assistant", "Echo: a fresh start"),
    ]
    assert store.conversation(owner, second)["title"] == "a fresh start"
    assert store.history(owner, first) == kept
    assert len(store.list_conversations(owner)) == 2


def test_clear_while_a_reply_streams_aborts_it_and_the_next_turn_is_alone(
    start_app, open_page, fake, store
):
    """The page's side of a clear mid-reply (the records' side, where the server's late
    writes are refused, is tests/unit/test_journal.py and test_records_repository.py)."""
    app = start_app(DATABASE_URL=str(store.engine.url))
    page = open_page(app.url)
    chat(page, "earlier topic")
    fake.script(Reply(LONG_REPLY * 3, chunk_size=4, delay=0.05))
    send(page, "go on forever")
    expect(page.locator("#chat-live-reply")).to_contain_text("Paragraph 1", timeout=10_000)

    clear(page)
    expect(page.locator(".chat-welcome")).to_be_visible()
    expect(page.locator(".chat-message")).to_have_count(0)
    expect(page.locator("#chat-send-button")).to_be_visible()
    assert fake.requests[-1].client_disconnected.wait(5), "the upstream request was not closed"

    send(page, "a new question")
    wait_idle(page, 1)
    expect(page.locator(".chat-message-user .chat-user-text")).to_have_text(["a new question"])
    expect(page.locator(".chat-message-assistant")).to_contain_text("Echo: a new question")
    expect(page.locator(".sidebar-title")).to_have_text(["a new question"])
    owner = owner_of(page)
    [listed] = store.list_conversations(owner)
    assert [(e["role"], e["content"]) for e in on_record(store, owner, listed["id"], 2)] == [
        ("user", "a new question"),
        ("assistant", "Echo: a new question"),
    ]


def local_records(page: Page) -> dict:
    """The browser's copy of its conversations (records off), as the page keeps it."""
    return page.evaluate("JSON.parse(localStorage.getItem('sidebar-local-records'))")


def test_with_records_off_clear_empties_the_browsers_copy(start_app, open_page, tmp_path):
    app = start_app(RECORDS_ENABLED="false", DATABASE_URL=f"sqlite:///{tmp_path}/unused.db")
    page = open_page(app.url)
    chat(page, "kept topic")
    chat(page, "topic to clear")
    expect(page.locator(".sidebar-title")).to_have_text(["topic to clear", "kept topic"])
    by_title = {entry["history"][0]["content"]: cid for cid, entry in local_records(page).items()}
    kept, cleared = by_title["kept topic"], by_title["topic to clear"]
    kept_entry = local_records(page)[kept]
    assert len(kept_entry["history"]) == 2
    # A title given by hand goes with the messages.
    page.locator(".sidebar-item", has_text="topic to clear").locator(
        "button[title='Rename']"
    ).click()
    page.fill("#sidebar-rename-input", "Renamed topic")
    page.locator(".ant-modal").get_by_role("button", name="Save").click()
    expect(page.locator(".sidebar-title")).to_have_text(["Renamed topic", "kept topic"])

    clear(page)
    expect(page.locator(".chat-welcome")).to_be_visible()
    expect(page.locator(".sidebar-title")).to_have_text(["kept topic"])
    local = local_records(page)
    assert local[cleared]["history"] == [] and local[cleared]["title"] == ""
    assert local[kept] == kept_entry
    page.reload()
    expect(page.locator(".sidebar-title")).to_have_text(["kept topic"])
    expect(page.locator(".chat-welcome")).to_be_visible()

    send(page, "second start")
    wait_idle(page, 1)
    expect(page.locator(".sidebar-title")).to_have_text(["second start", "kept topic"])
    contents = [e["content"] for e in local_records(page)[cleared]["history"]]
    assert contents == ["second start", "Echo: second start"]
    assert titles(page) == ["second start", "kept topic"]
    assert not (tmp_path / "unused.db").exists()
