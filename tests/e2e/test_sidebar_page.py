"""The conversation sidebar: new, switch, rename, delete, search, and the list coming back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_chat_page import send, wait_idle

pytestmark = pytest.mark.e2e


def titles(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(".sidebar-title").all_inner_texts()]


def chat(page: Page, question: str) -> None:
    """Start a new conversation with one question, and wait for its reply."""
    page.click("#sidebar-new-button")
    expect(page.locator(".chat-welcome")).to_be_visible()
    send(page, question)
    wait_idle(page, 1)


def test_new_switch_and_the_list_survive_a_cleared_browser(app_server, open_page):
    page = open_page(app_server.url)
    expect(page.locator(".sidebar-empty")).to_be_visible()
    chat(page, "How do I bake bread?")
    chat(page, "Explain TCP")
    expect(page.locator(".sidebar-title")).to_have_count(2)
    assert titles(page) == ["Explain TCP", "How do I bake bread?"]  # newest first
    expect(page.locator(".sidebar-day").first).to_have_text("Today")

    page.locator(".sidebar-title", has_text="bake").click()
    expect(page.locator(".chat-message-user .chat-user-text")).to_have_text("How do I bake bread?")
    expect(page.locator(".sidebar-item-active")).to_contain_text("How do I bake bread?")
    # Continuing it adds to that conversation, not a new one.
    send(page, "With rye flour?")
    wait_idle(page, 2)
    expect(page.locator(".sidebar-title")).to_have_count(2)

    # The browser's storage is wiped (same browser identity): the list is still there, and
    # a conversation opens whole from the server.
    page.evaluate("localStorage.clear()")
    page.reload()
    expect(page.locator(".chat-welcome")).to_be_visible()
    expect(page.locator(".sidebar-title")).to_have_count(2)
    page.locator(".sidebar-title", has_text="bake").click()
    expect(page.locator(".chat-message-user")).to_have_count(2)
    expect(page.locator(".chat-message-assistant").last).to_contain_text("Echo: With rye flour?")


def test_rename_delete_and_search(app_server, open_page):
    page = open_page(app_server.url)
    chat(page, "first topic")
    chat(page, "second topic")

    item = page.locator(".sidebar-item", has_text="first topic")
    item.locator("button[title='Rename']").click()
    page.fill("#sidebar-rename-input", "Renamed topic")
    page.locator(".ant-modal").get_by_role("button", name="Save").click()
    expect(page.locator(".sidebar-title", has_text="Renamed topic")).to_be_visible()

    page.fill("#sidebar-search", "second")
    expect(page.locator(".sidebar-title")).to_have_count(1, timeout=5_000)
    assert titles(page) == ["second topic"]
    # Search looks inside messages too, not only titles.
    page.fill("#sidebar-search", "Echo: first")
    expect(page.locator(".sidebar-title")).to_have_text(["Renamed topic"])
    page.fill("#sidebar-search", "")
    expect(page.locator(".sidebar-title")).to_have_count(2)

    # Deleting the open conversation empties the thread; a confirm step comes first.
    page.locator(".sidebar-item", has_text="second topic").locator("button[title='Delete']").click()
    page.locator(".ant-popconfirm").get_by_role("button", name="Delete").click()
    expect(page.locator(".sidebar-title")).to_have_text(["Renamed topic"])
    expect(page.locator(".chat-welcome")).to_be_visible()


def test_another_browser_sees_none_of_them(app_server, open_page, browser):
    page = open_page(app_server.url)
    chat(page, "my private question")
    other = open_page(app_server.url)  # a fresh browser profile: another identity
    expect(other.locator(".sidebar-empty")).to_be_visible()
    expect(other.locator(".sidebar-title")).to_have_count(0)


def test_an_exported_file_imports_and_the_conversation_goes_on(
    app_server, open_page, fake, tmp_path
):
    page = open_page(app_server.url)
    chat(page, "Plan a trip to Hangzhou")
    send(page, "Three days, please")
    wait_idle(page, 2)
    with page.expect_download() as download_info:
        page.click("#export-markdown-button")
    exported = tmp_path / "trip.md"
    download_info.value.save_as(exported)

    other = open_page(app_server.url)  # another browser: nothing of the first one's
    other.set_input_files("#sidebar-import input[type=file]", str(exported))
    expect(other.locator(".chat-message-user")).to_have_count(2)
    expect(other.locator(".chat-message-assistant").last).to_contain_text("Echo: Three days")
    expect(other.locator(".sidebar-title")).to_have_text(["Plan a trip to Hangzhou"])
    # It continues with the imported turns as context.
    send(other, "And a fourth?")
    wait_idle(other, 3)
    sent = [m["content"] for m in fake.requests[-1].body["messages"] if m["role"] == "user"]
    assert sent == ["Plan a trip to Hangzhou", "Three days, please", "And a fourth?"]


def export_one(page: Page, tmp_path, question: str):
    """Chat once and download the export; returns the file and the reply's usage line."""
    chat(page, question)
    usage = page.locator(".chat-message-assistant .chat-usage").last.inner_text()
    with page.expect_download() as download_info:
        page.click("#export-markdown-button")
    exported = tmp_path / "export.md"
    download_info.value.save_as(exported)
    return exported, usage


def import_file(page: Page, path) -> None:
    """Choose `path` in the import button's file dialog (which starts empty each time)."""
    chooser = page.locator("#sidebar-import input[type=file]")
    chooser.set_input_files([])
    chooser.set_input_files(str(path))


@pytest.mark.parametrize("records_on", [True, False], ids=["records-on", "records-off"])
def test_the_same_export_imported_twice_is_one_conversation_with_its_tags(
    records_on, app_server, start_app, open_page, tmp_path
):
    app = app_server
    if not records_on:
        app = start_app(RECORDS_ENABLED="false", DATABASE_URL=f"sqlite:///{tmp_path}/unused.db")
    exported, usage = export_one(open_page(app.url), tmp_path, "Plan a trip to Hangzhou")
    assert "Echo" not in usage and usage.strip()  # the model tag and the token counts

    other = open_page(app.url)  # another browser: nothing of the first one's
    import_file(other, exported)
    expect(other.locator(".sidebar-title")).to_have_text(["Plan a trip to Hangzhou"])
    # The imported reply keeps its model and tokens.
    expect(other.locator(".chat-message-assistant .chat-usage")).to_have_text(usage)
    other.click("#sidebar-new-button")
    expect(other.locator(".chat-welcome")).to_be_visible()

    import_file(other, tmp_path / "export.md")
    expect(other.locator(".ant-message")).to_contain_text("You imported “export.md” before")
    expect(other.locator(".chat-message-assistant")).to_contain_text("Echo: Plan a trip")
    expect(other.locator(".sidebar-item-active")).to_contain_text("Plan a trip to Hangzhou")
    expect(other.locator(".sidebar-title")).to_have_count(1)
    other.reload()
    expect(other.locator(".sidebar-title")).to_have_text(["Plan a trip to Hangzhou"])


def test_a_file_that_is_not_an_export_is_refused_in_plain_words(app_server, open_page, tmp_path):
    page = open_page(app_server.url)
    notes = tmp_path / "notes.md"
    notes.write_text("# My notes\n\nNothing to see here.\n", encoding="utf-8")
    page.set_input_files("#sidebar-import input[type=file]", str(notes))
    expect(page.locator(".chat-message-error")).to_contain_text("is not a conversation exported")
    expect(page.locator(".sidebar-empty")).to_be_visible()


def test_with_records_off_the_browser_keeps_the_list_and_says_so(start_app, open_page, tmp_path):
    app = start_app(RECORDS_ENABLED="false", DATABASE_URL=f"sqlite:///{tmp_path}/unused.db")
    page = open_page(app.url)
    expect(page.locator(".sidebar-records-off")).to_contain_text("RECORDS_ENABLED=false")
    chat(page, "kept in this browser")
    chat(page, "and this one too")
    expect(page.locator(".sidebar-title")).to_have_text(
        ["and this one too", "kept in this browser"]
    )
    page.reload()
    expect(page.locator(".sidebar-title")).to_have_count(2)
    page.locator(".sidebar-title", has_text="kept in").click()
    expect(page.locator(".chat-message-assistant")).to_contain_text("Echo: kept in this browser")

    item = page.locator(".sidebar-item", has_text="and this one")
    item.locator("button[title='Delete']").click()
    page.locator(".ant-popconfirm").get_by_role("button", name="Delete").click()
    expect(page.locator(".sidebar-title")).to_have_text(["kept in this browser"])
    # Nothing reached the server's database.
    assert not (tmp_path / "unused.db").exists()
