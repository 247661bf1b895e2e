"""The server's record of what happens in the page, including when the server dies mid-reply."""

from __future__ import annotations

import os
import time

import pytest
from itsdangerous import URLSafeSerializer
from playwright.sync_api import Page, expect

from api.identity import COOKIE
from services.records.repository import Records
from tests import records_db
from tests.e2e.test_chat_page import LONG_REPLY, send, wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e


def owner_of(page: Page) -> str:
    """The browser's identity, from its signed http-only cookie (invisible to page scripts)."""
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] is True
    assert page.evaluate("document.cookie").find(COOKIE) == -1
    signer = URLSafeSerializer(os.environ["SECRET_KEY"], salt="chat-identity")
    return signer.loads(cookie["value"])


@pytest.fixture
def store(tmp_path):
    return Records(f"sqlite:///{tmp_path}/records.db")


def test_the_page_keeps_each_turn_on_the_server(start_app, open_page, fake, store):
    app = start_app(DATABASE_URL=str(store.engine.url))
    page = open_page(app.url)
    send(page, "first question")
    wait_idle(page, 1)
    send(page, "second question")
    wait_idle(page, 2)
    owner = owner_of(page)
    [conversation] = store.list_conversations(owner)
    assert conversation["title"] == "first question"
    # The reply's final event reaches the page before its record is written: wait for it.
    deadline = time.monotonic() + 10
    while len(store.history(owner, conversation["id"])) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    roles = [(e["role"], e["content"]) for e in store.history(owner, conversation["id"])]
    assert roles == [
        ("user", "first question"),
        ("assistant", "Echo: first question"),
        ("user", "second question"),
        ("assistant", "Echo: second question"),
    ]

    # Clear empties the record too; the next question starts it again (test_clear_page.py).
    page.click("#clear-history-button")
    page.locator(".ant-popconfirm").get_by_role("button", name="Clear").click()
    send(page, "a fresh start")
    wait_idle(page, 1)
    assert [(c["id"], c["title"]) for c in store.list_conversations(owner)] == [
        (conversation["id"], "a fresh start")
    ]


def test_a_stopped_reply_is_kept_on_the_server(start_app, open_page, fake, store):
    app = start_app(DATABASE_URL=str(store.engine.url))
    fake.script(Reply(LONG_REPLY * 3, chunk_size=4, delay=0.05))
    page = open_page(app.url)
    send(page, "go on")
    expect(page.locator("#chat-live-reply")).to_contain_text("Paragraph 1", timeout=10_000)
    page.click("#chat-stop-button")
    wait_idle(page, 1)
    owner = owner_of(page)
    [conversation] = store.list_conversations(owner)
    # The reply is on record from its start; Stop marks it stopped, then its text is written.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _question, reply = store.history(owner, conversation["id"])
        if reply["content"]:
            break
        time.sleep(0.1)
    assert reply["status"] == "stopped"
    assert reply["content"].startswith("Paragraph 1")


# No batch of the reply is written before the kill: only its question is on record.
NO_BATCH = {"RECORD_BATCH_SECONDS": "3600", "RECORD_BATCH_CHARS": "1000000"}


def test_a_server_killed_mid_reply_leaves_a_consistent_record(start_app, open_page, fake, store):
    app = start_app(DATABASE_URL=str(store.engine.url), **NO_BATCH)
    fake.script(Reply(LONG_REPLY * 3, chunk_size=4, delay=0.05))
    page = open_page(app.url)
    send(page, "are you still there?")
    expect(page.locator("#chat-live-reply")).to_contain_text("Paragraph 1", timeout=10_000)
    app.kill()  # SIGKILL to the whole server: no cleanup runs
    owner = owner_of(page)
    [conversation] = store.list_conversations(owner)
    history = store.history(owner, conversation["id"])
    assert history[0] == {"role": "user", "content": "are you still there?"}
    # Whatever the dying server managed to write, the record reads back whole.
    assert all(e["role"] in ("user", "assistant", "error") for e in history)

    # Back up on the same address and database: the question is still in the thread, marked
    # as interrupted, and a retry answers it.
    again = start_app(port=app.port, DATABASE_URL=str(store.engine.url), **NO_BATCH)
    page.goto(again.url)
    notice = page.locator(".chat-message-error")
    expect(notice).to_contain_text("before this question was answered")
    expect(page.locator(".chat-message-user")).to_contain_text("are you still there?")
    notice.get_by_role("button", name="Retry").click()
    wait_idle(page, 1)
    expect(page.locator(".chat-message-assistant").last).to_contain_text(
        "Echo: are you still there?"
    )


def test_a_reply_cut_by_a_crash_is_shown_interrupted_with_its_text(
    start_app, open_page, fake, store
):
    """Its batches on record, the server killed: the reopened conversation shows the text kept,
    a plain "interrupted" note, and a retry that answers the question."""
    batches = {"RECORD_BATCH_SECONDS": "3600", "RECORD_BATCH_CHARS": "40"}
    app = start_app(DATABASE_URL=str(store.engine.url), **batches)
    fake.script(Reply(LONG_REPLY * 3, chunk_size=4, delay=0.05))
    page = open_page(app.url)
    send(page, "tell me everything")
    expect(page.locator("#chat-live-reply")).to_contain_text("Paragraph 1", timeout=10_000)
    owner = owner_of(page)
    [conversation] = store.list_conversations(owner)

    def reply_on_record() -> dict | None:
        history = store.history(owner, conversation["id"]) or []
        return history[1] if len(history) > 1 else None

    def first_batch() -> bool:
        # The reply is on record (empty) from its start; its first batch brings text.
        return (reply_on_record() or {}).get("content", "").startswith("Paragraph 1")

    deadline = time.monotonic() + 10
    while not first_batch() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reply_on_record()["status"] == "streaming"
    app.kill()  # SIGKILL to the whole server: no cleanup runs

    again = start_app(port=app.port, DATABASE_URL=str(store.engine.url), **batches)
    kept = reply_on_record()
    assert kept["status"] == "interrupted" and kept["content"].startswith("Paragraph 1")
    # Opened from the server's record (the browser's own copy has only the question).
    page.evaluate("localStorage.clear()")
    page.goto(again.url, wait_until="networkidle")  # see the test above for why networkidle
    page.locator(".sidebar-title", has_text="tell me everything").click()
    reply = page.locator(".chat-message-assistant").last
    expect(reply).to_contain_text("Paragraph 1")
    expect(reply).to_contain_text("Interrupted: the server stopped before this reply finished")
    notice = page.locator(".chat-message-error")
    notice.get_by_role("button", name="Retry").click()
    # The retry's answer, in the thread and on record after the kept text.
    expect(page.locator(".chat-message-assistant").last).to_contain_text("Echo: tell me everything")
    deadline = time.monotonic() + 10
    while len(store.history(owner, conversation["id"])) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    history = store.history(owner, conversation["id"])
    assert [e["role"] for e in history] == ["user", "assistant", "assistant"]
    assert history[1]["status"] == "interrupted"
    assert (history[2]["status"], history[2]["content"]) == ("done", "Echo: tell me everything")


def test_a_conversation_moves_to_a_second_instance_sharing_postgresql(
    start_app, open_page, postgres_server
):
    """Two servers on one PostgreSQL: the browser (same identity cookie, another origin, so
    an empty local storage) finds its conversation on the second and carries on there."""
    with records_db.empty_schema(postgres_server) as url:
        first = start_app(DATABASE_URL=url)
        second = start_app(DATABASE_URL=url)
        page = open_page(first.url)
        send(page, "started on the first server")
        wait_idle(page, 1)

        page.goto(second.url)
        expect(page.locator(".chat-welcome")).to_be_visible()  # its local storage is empty
        page.locator(".sidebar-title", has_text="started on the first").click()
        expect(page.locator(".chat-message-assistant")).to_contain_text(
            "Echo: started on the first server"
        )
        send(page, "finished on the second")
        wait_idle(page, 2)
        history = Records(url).history(owner_of(page), page_conversation(page))
        assert [e["content"] for e in history if e["role"] == "user"] == [
            "started on the first server",
            "finished on the second",
        ]


def page_conversation(page: Page) -> str:
    """The id of the conversation open in the page."""
    return page.locator(".sidebar-item-active").get_attribute("data-conversation")
