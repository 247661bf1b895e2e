"""Attachments in the page against the server's real route (api/attachments.py), in headless
Chromium: a chip is done once the server has stored the file, a refusal shows the server's
reason in the page's words, × deletes the upload, and an attachment's URL answers only the
identity that uploaded it (another browser gets 404, the same as for a made-up id)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests import sample_documents as documents
from tests.attachment_files import bomb_png, exe_bytes, image_bytes, photo_with_gps
from tests.e2e.test_attachments_page import CHIPS, PROBLEM, choose, file, ready
from tests.e2e.test_chat_page import send, wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e


def status(page: Page, url: str) -> int:
    """What the server answers this page's identity for `url` (its cookies go along)."""
    return page.evaluate(
        "async (url) => (await fetch(url, { credentials: 'same-origin' })).status", url
    )


def test_the_server_stores_each_file_and_says_why_it_refuses_one(app_server, open_page):
    page = open_page(app_server.url)
    ready(page)
    choose(
        page,
        file("worksheet.jpg", photo_with_gps(), "image/jpeg"),
        file("notes.md", "# 笔记\n\nPage one.\n".encode(), "text/markdown"),
        file("photo.png", exe_bytes(), "image/png"),
    )
    chips = page.locator(CHIPS)
    expect(chips.nth(0)).to_have_attribute("data-state", "done")
    expect(chips.nth(1)).to_have_attribute("data-state", "done")
    expect(chips.nth(2)).to_have_attribute("data-state", "error")
    # The server's reason, in the page's words, with the file's name.
    expect(page.locator(PROBLEM)).to_have_text(
        "photo.png could not be attached: The file's content does not match its name "
        "(photo.png), so it was not attached."
    )
    image_id = chips.nth(0).get_attribute("data-id")
    assert status(page, f"/api/attachments/{image_id}/thumbnail") == 200
    assert status(page, f"/api/attachments/{image_id}") == 200

    # × on an uploaded file deletes it on the server too.
    chips.nth(0).get_by_role("button", name="Remove worksheet.jpg").click()
    expect(chips).to_have_count(2)
    page.wait_for_function(
        "async (url) => (await fetch(url)).status === 404", arg=f"/api/attachments/{image_id}"
    )


def test_a_decompression_bomb_is_refused_by_the_server(app_server, open_page):
    page = open_page(app_server.url)
    ready(page)
    choose(page, file("huge.png", bomb_png(), "image/png"))
    expect(page.locator(CHIPS)).to_have_attribute("data-state", "error")
    expect(page.locator(PROBLEM)).to_contain_text("huge.png could not be attached: The image")


def test_documents_are_read_and_a_scan_or_a_locked_pdf_is_said_plainly(app_server, open_page):
    page = open_page(app_server.url)
    ready(page)
    choose(page, file("report.pdf", documents.long_pdf(pages=3), "application/pdf"))
    chips = page.locator(CHIPS)
    expect(chips.nth(0)).to_have_attribute("data-state", "done")
    expect(page.locator(PROBLEM)).to_be_hidden()

    choose(page, file("scan.pdf", documents.image_pdf(), "application/pdf"))
    expect(chips.nth(1)).to_have_attribute("data-state", "done")  # kept, and said
    expect(page.locator(PROBLEM)).to_have_text(
        "scan.pdf: This PDF has no text layer (it is probably a scan), so the assistant "
        "cannot read it."
    )
    choose(page, file("locked.pdf", documents.encrypted_pdf(), "application/pdf"))
    expect(chips.nth(2)).to_have_attribute("data-state", "error")
    expect(page.locator(PROBLEM)).to_contain_text("locked.pdf could not be attached: The file")


def page_with_photo(app_server, open_page, name="worksheet.jpg", data=None) -> tuple[Page, str]:
    """A page with a photo attached and uploaded; the page and the attachment's id."""
    page = open_page(app_server.url)
    ready(page)
    mime = "image/png" if name.endswith(".png") else "image/jpeg"
    choose(page, file(name, data if data is not None else photo_with_gps(), mime))
    chip = page.locator(CHIPS)
    expect(chip).to_have_attribute("data-state", "done")
    return page, chip.get_attribute("data-id")


def test_another_identity_gets_404_for_an_attachment_url(app_server, open_page):
    owner, attachment = page_with_photo(app_server, open_page, "private.png", image_bytes())

    other = open_page(app_server.url)  # a fresh browser profile: another identity
    for url in (f"/api/attachments/{attachment}", f"/api/attachments/{attachment}/thumbnail"):
        assert status(owner, url) == 200
        assert status(other, url) == 404
    # The same answer as for an id nobody has.
    assert status(other, "/api/attachments/" + "0" * 32) == 404
    assert status(other, f"/api/attachments/{attachment}") == 404


THREAD_IMAGE = "#chat-history-list .chat-message-user .chat-attachment-image img"


def shows_thumbnail(page: Page, attachment: str) -> None:
    """The thread's question shows the image's thumbnail, loaded from the server."""
    image = page.locator(THREAD_IMAGE)
    expect(image).to_have_attribute("src", f"/api/attachments/{attachment}/thumbnail")
    expect(image).to_have_attribute("alt", "worksheet.jpg")
    page.wait_for_function(
        f"() => {{ const img = document.querySelector({THREAD_IMAGE!r});"
        " return img && img.complete && img.naturalWidth > 0; }"
    )


def test_an_image_goes_to_the_model_and_stays_in_the_thread(app_server, open_page, fake):
    page, attachment = page_with_photo(app_server, open_page)

    fake.script(Reply("It is half red, half blue."))
    send(page, "What colours are in this photo?")
    wait_idle(page, 1)
    (request,) = fake.requests
    question = request.body["messages"][-1]
    images = [part for part in question["content"] if part["type"] == "image_url"]
    texts = [part["text"] for part in question["content"] if part["type"] == "text"]
    assert len(images) == 1
    assert images[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert texts == ["What colours are in this photo?"]
    shows_thumbnail(page, attachment)
    expect(page.locator(CHIPS)).to_have_count(0)

    # After a reload, and opened again from the sidebar.
    page.reload()
    wait_idle(page, 1)
    shows_thumbnail(page, attachment)
    page.click("#sidebar-new-button")
    expect(page.locator(".chat-welcome")).to_be_visible()
    page.locator(".sidebar-title", has_text="What colours").click()
    shows_thumbnail(page, attachment)

    # A follow-up question sends the earlier image again (its round is in the context).
    fake.script(Reply("Red on the left."))
    send(page, "Which side is red?")
    wait_idle(page, 2)
    later = fake.requests[1].body["messages"]
    parts = [m["content"] for m in later if m["role"] == "user"]
    assert isinstance(parts[0], list) and parts[1] == "Which side is red?"


def test_records_off_the_browser_keeps_the_question_with_its_image(start_app, open_page, fake):
    page, attachment = page_with_photo(start_app(RECORDS_ENABLED="false"), open_page)
    # The page says they do not outlive it.
    expect(page.locator("#chat-attach-note")).to_be_visible()

    fake.script(Reply("Half red, half blue."), Reply("Red on the left."))
    send(page, "What colours are in this photo?")
    wait_idle(page, 1)
    assert (
        len(
            [
                p
                for p in fake.requests[0].body["messages"][-1]["content"]
                if p["type"] == "image_url"
            ]
        )
        == 1
    )
    shows_thumbnail(page, attachment)
    # The browser's copy holds the question's refs: drawn again after a reload, and sent back
    # with the history (the earlier image goes to the model again).
    page.reload()
    wait_idle(page, 1)
    shows_thumbnail(page, attachment)
    send(page, "Which side is red?")
    wait_idle(page, 2)
    earlier = fake.requests[1].body["messages"]
    first_question = next(m for m in earlier if m["role"] == "user")
    assert isinstance(first_question["content"], list)


def test_a_picture_alone_is_a_question(app_server, open_page, fake):
    """No words, only a photo: it goes (as in ChatGPT), upstream as one image part without an
    empty text part, and the conversation is named after the file in the sidebar."""
    page, attachment = page_with_photo(app_server, open_page)

    fake.script(Reply("A worksheet with two colours."))
    page.click("#chat-send-button")
    wait_idle(page, 1)
    (request,) = fake.requests
    content = request.body["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["image_url"]
    shows_thumbnail(page, attachment)
    expect(page.locator(".sidebar-title", has_text="worksheet.jpg")).to_be_visible()
    expect(page.locator(PROBLEM)).to_be_hidden()  # nothing refused


def test_an_edited_question_keeps_its_image(app_server, open_page, fake):
    """Editing a question that had a photo asks the new words about the same photo."""
    from tests.e2e.test_branches_page import edit

    page, attachment = page_with_photo(app_server, open_page)
    fake.script(Reply("Red and blue."), Reply("Red."))
    send(page, "What colours are in this photo?")
    wait_idle(page, 1)

    edit(page, 0, "Which colour is on the left?")
    expect(page.locator(".chat-message-assistant:not(.chat-message-live)")).to_contain_text(
        ["Red."]
    )
    wait_idle(page, 1)
    first, second = fake.requests
    question = second.body["messages"][-1]
    assert [part["type"] for part in question["content"]] == ["text", "image_url"]
    assert question["content"][0]["text"] == "Which colour is on the left?"
    assert question["content"][1] == first.body["messages"][-1]["content"][1]
    shows_thumbnail(page, attachment)


def test_a_question_about_page_150_of_a_200_page_pdf_sends_that_passage(
    app_server, open_page, fake
):
    """Attached in the page: the question about the sentence on page 150 sends that page's
    passage, named by its page, not the whole document."""
    page = open_page(app_server.url)
    ready(page)
    choose(page, file("report.pdf", documents.long_pdf(), "application/pdf"))
    expect(page.locator(CHIPS)).to_have_attribute("data-state", "done", timeout=20_000)
    fake.script(Reply("The purple giraffe, on page 150."))
    send(page, documents.QUESTION)
    wait_idle(page, 1)
    (request,) = fake.requests
    content = request.body["messages"][-1]["content"]
    text = content if isinstance(content, str) else content[0]["text"]
    assert documents.SENTENCE in text and 'location="page 150"' in text
    assert text.endswith(documents.QUESTION)
    assert "page 3" not in text and len(text) < 20_000  # passages, not 200 pages
    expect(page.locator(".chat-message-user .chat-attachment")).to_contain_text("report.pdf")
