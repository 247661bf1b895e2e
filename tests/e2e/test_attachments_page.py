"""Attachments in the composer (issue 18), in headless Chromium: the file chooser, paste and
drag-and-drop show chips; the page's own checks refuse what the server would, in plain words,
before anything is uploaded; Send waits for the uploads and the turn carries their ids.

The uploads reach the server's real route through the test (`Uploads`), which can hold them
back (a slow network) or answer one with a refusal; tests/e2e/test_attachments_server.py has
the server's own refusals, its 404s and whole turns.
"""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image
from playwright.sync_api import Page, Route, expect

from tests.e2e.test_chat_page import wait_idle
from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

CHIPS = "#chat-attachments .composer-chip"
PROBLEM = "#chat-attach-problem"


def png(width: int = 64, height: int = 48, color=(40, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def file(name: str, data: bytes, mime: str = "application/octet-stream") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


class Uploads:
    """Watches the page's uploads (POST /api/attachments) on their way to the server: the
    name each carried and the id the server gave it (`ids`); `hold()` keeps them back until
    `release()`, and `refuse` answers them with that error instead of the server."""

    def __init__(self, page: Page):
        self.posted: list[str] = []
        self.ids: dict[str, str] = {}
        self.held: list[Route] = []
        self.holding = False
        self.refuse: dict | None = None
        page.route("**/api/attachments", self._upload)

    def _upload(self, route: Route) -> None:
        body = route.request.post_data_buffer or b""
        name = body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode() if body else ""
        self.posted.append(name)
        if self.refuse:
            route.fulfill(status=400, json={"error": self.refuse})
        elif self.holding:
            self.held.append(route)
        else:
            self._pass(route)

    def _pass(self, route: Route) -> None:
        response = route.fetch()
        if response.status == 201:
            info = response.json()
            self.ids[info["name"]] = info["id"]
        route.fulfill(response=response)

    def hold(self) -> None:
        self.holding = True

    def release(self) -> None:
        self.holding = False
        held, self.held = self.held, []
        for route in held:
            self._pass(route)


def ready(page: Page) -> None:
    page.wait_for_selector("#chat-attach-input", state="attached")


def choose(page: Page, *files: dict) -> None:
    """Attach `files` the way a user does: the attach button opens the file chooser."""
    with page.expect_file_chooser() as chooser:
        page.click("#chat-attach-button")
    assert chooser.value.is_multiple()
    chooser.value.set_files(list(files))


FILES_IN_PAGE = """
([items]) => items.map(([name, type, data]) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    return new File([bytes], name, { type });
})
"""


def page_files(*files: dict) -> list:
    return [[f["name"], f["mimeType"], base64.b64encode(f["buffer"]).decode()] for f in files]


def paste(page: Page, *files: dict, text: str = "") -> bool:
    """A paste in the message box with `files` (and `text`) on the clipboard; whether the page
    took it."""
    return page.evaluate(
        f"""([items, text]) => {{
            const transfer = new DataTransfer();
            ({FILES_IN_PAGE})([items]).forEach((f) => transfer.items.add(f));
            if (text) transfer.setData("text/plain", text);
            const event = new ClipboardEvent("paste", {{
                clipboardData: transfer, bubbles: true, cancelable: true,
            }});
            document.getElementById("chat-input").dispatchEvent(event);
            return event.defaultPrevented;
        }}""",
        [page_files(*files), text],
    )


def drag(page: Page, kind: str, *files: dict) -> None:
    """A drag event of `kind` over the thread, carrying `files`."""
    page.evaluate(
        f"""([kind, items]) => {{
            const transfer = new DataTransfer();
            ({FILES_IN_PAGE})([items]).forEach((f) => transfer.items.add(f));
            const event = new DragEvent(kind, {{
                dataTransfer: transfer, bubbles: true, cancelable: true,
            }});
            document.querySelector(".chat-column").dispatchEvent(event);
        }}""",
        [kind, page_files(*files)],
    )


@pytest.fixture(scope="module")
def small_limits(start_app):
    """Two files at most, 50 KB each, images and text only; no records."""
    return start_app(
        MAX_ATTACHMENTS="2",
        MAX_ATTACHMENT_MB="0.05",
        ATTACHMENT_TYPES="image,txt",
        RECORDS_ENABLED="false",
    )


def test_the_file_chooser_shows_chips_that_upload_and_can_be_removed(app_server, open_page):
    page = open_page(app_server.url)
    uploads = Uploads(page)
    ready(page)
    expect(page.locator("#chat-attach-button")).to_have_attribute("aria-label", "Attach files")
    accept = page.get_attribute("#chat-attach-input", "accept")
    assert ".pdf" in accept.split(",") and ".png" in accept.split(",")

    choose(page, file("worksheet.png", png(), "image/png"), file("notes.txt", b"hello\n"))
    chips = page.locator(CHIPS)
    expect(chips).to_have_count(2)
    expect(chips.nth(0)).to_have_attribute("data-state", "done")
    expect(chips.nth(1)).to_have_attribute("data-state", "done")
    assert uploads.posted == ["worksheet.png", "notes.txt"]
    # The name and size at once; an image has a thumbnail made in the browser.
    expect(chips.nth(0).locator(".composer-chip-name")).to_have_text("worksheet.png")
    expect(chips.nth(1).locator(".composer-chip-size")).to_have_text("6 B")
    thumb = chips.nth(0).locator("img.composer-chip-thumb")
    assert thumb.get_attribute("src").startswith("blob:")
    assert thumb.evaluate("img => img.complete && img.naturalWidth") == 64
    expect(chips.nth(1).locator("img")).to_have_count(0)

    # × removes the chip, and the uploaded file on the server.
    with page.expect_request(lambda request: request.method == "DELETE") as deleted:
        chips.nth(0).get_by_role("button", name="Remove worksheet.png").click()
    assert deleted.value.url.endswith(f"/api/attachments/{uploads.ids['worksheet.png']}")
    expect(chips).to_have_count(1)
    expect(chips.nth(0).locator(".composer-chip-name")).to_have_text("notes.txt")
    chips.nth(0).get_by_role("button", name="Remove notes.txt").click()
    expect(page.locator("#chat-attachments")).to_be_hidden()


def test_refused_files_are_said_in_plain_words_and_never_uploaded(small_limits, open_page):
    page = open_page(small_limits.url)
    uploads = Uploads(page)
    ready(page)
    problem = page.locator(PROBLEM)

    choose(page, file("setup.exe", b"MZ" + b"\0" * 64))
    expect(problem).to_have_text(
        "setup.exe cannot be attached. Files you can attach: "
        "images (PNG, JPEG, WebP, GIF), text (.txt)."
    )
    choose(page, file("report.pdf", b"%PDF-1.7\n"))  # a kind this server does not take
    expect(problem).to_contain_text("report.pdf cannot be attached.")
    choose(page, file("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"))
    expect(problem).to_contain_text("SVG images can carry scripts")
    choose(page, file("empty.txt", b""))
    expect(problem).to_have_text("empty.txt is empty.")
    choose(page, file("big.png", b"\x89PNG" + b"\0" * 60_000, "image/png"))
    expect(problem).to_have_text("big.png is 59 KB: files can be at most 51 KB.")
    expect(page.locator(CHIPS)).to_have_count(0)

    # Three files where two may go: two chips, and why not the third.
    choose(
        page,
        file("a.png", png(), "image/png"),
        file("b.txt", b"b"),
        file("c.txt", b"c"),
    )
    expect(page.locator(f"{CHIPS}[data-state=done]")).to_have_count(2)
    expect(problem).to_have_text("At most 2 files can go with one message.")
    assert uploads.posted == ["a.png", "b.txt"]
    # Records off: the page says the attachments do not outlive it.
    expect(page.locator("#chat-attach-note")).to_have_text(
        "Attachments last only until you reload the page."
    )
    for name in ("a.png", "b.txt"):
        page.get_by_role("button", name=f"Remove {name}").click()
    expect(page.locator("#chat-attach-note")).to_be_hidden()


def test_with_records_on_there_is_no_note(app_server, open_page):
    page = open_page(app_server.url)
    Uploads(page)
    ready(page)
    choose(page, file("a.txt", b"a"))
    expect(page.locator(f"{CHIPS}[data-state=done]")).to_have_count(1)
    expect(page.locator("#chat-attach-note")).to_have_count(0)


def test_a_pasted_screenshot_and_dropped_files_are_attached(app_server, open_page):
    page = open_page(app_server.url)
    uploads = Uploads(page)
    ready(page)

    assert paste(page, file("image.png", png(), "image/png")) is True
    expect(page.locator(f"{CHIPS}[data-state=done]")).to_have_count(1)
    # Cells copied from a spreadsheet come with a picture of themselves: the text is meant,
    # and left to the box.
    assert paste(page, file("image.png", png(), "image/png"), text="12\t34") is False
    expect(page.locator(CHIPS)).to_have_count(1)

    overlay = page.locator("#chat-drop-overlay")
    expect(overlay).to_be_hidden()
    notes = file("notes.md", b"# Notes\n", "text/markdown")
    drag(page, "dragenter", notes)
    expect(overlay).to_be_visible()
    expect(overlay).to_have_text("Drop files to attach")
    drag(page, "dragover", notes)
    drag(page, "drop", notes)
    expect(overlay).to_be_hidden()
    expect(page.locator(CHIPS)).to_have_count(2)
    expect(page.locator(CHIPS).nth(1)).to_have_attribute("data-state", "done")
    assert uploads.posted == ["image.png", "notes.md"]
    # A drag that leaves the page takes the overlay with it.
    drag(page, "dragenter", notes)
    expect(overlay).to_be_visible()
    drag(page, "dragleave", notes)
    expect(overlay).to_be_hidden()


def test_send_waits_for_the_uploads_then_the_turn_carries_their_ids(app_server, open_page, fake):
    page = open_page(app_server.url)
    uploads = Uploads(page)
    ready(page)
    uploads.hold()
    choose(page, file("worksheet.png", png(), "image/png"), file("notes.txt", b"hello\n"))
    expect(page.locator(CHIPS).nth(1)).to_have_attribute("data-state", "uploading")
    expect(page.locator(f"{CHIPS} .composer-chip-spinner").first).to_be_visible()

    fake.script(Reply("A blue square."))
    page.fill("#chat-input", "What is in the picture?")
    streams: list[dict] = []
    page.on(
        "request",
        lambda r: streams.append(json.loads(r.post_data)) if "/api/chat/stream" in r.url else None,
    )
    page.press("#chat-input", "Enter")
    # Held: nothing is sent, the question stays in the box, Send says it is waiting.
    expect(page.locator("body")).to_have_class(re.compile(r"\bchat-attach-waiting\b"))
    assert streams == [] and fake.requests == []
    expect(page.locator("#chat-input")).to_have_value("What is in the picture?")

    uploads.release()
    wait_idle(page, 1)
    (sent,) = streams
    assert sent["turn"]["question"] == "What is in the picture?"
    assert sent["turn"]["attachments"] == [uploads.ids["worksheet.png"], uploads.ids["notes.txt"]]
    expect(page.locator(CHIPS)).to_have_count(0)
    expect(page.locator("#chat-attachments")).to_be_hidden()
    assert "chat-attach-waiting" not in (page.get_attribute("body", "class") or "")


def test_the_live_question_shows_its_attachments(app_server, open_page, fake):
    page = open_page(app_server.url)
    uploads = Uploads(page)
    ready(page)
    choose(page, file("worksheet.png", png(), "image/png"), file("notes.txt", b"hello\n"))
    expect(page.locator(f"{CHIPS}[data-state=done]")).to_have_count(2)

    fake.script(Reply("Reading it now. " * 30, chunk_size=4, delay=0.03))
    page.fill("#chat-input", "Read these")
    page.press("#chat-input", "Enter")
    live = page.locator("#chat-live-question-attachments")
    thumbnail = f"/api/attachments/{uploads.ids['worksheet.png']}/thumbnail"
    expect(live.locator("img")).to_have_attribute("src", thumbnail)
    expect(live.locator("img")).to_have_attribute("alt", "worksheet.png")
    expect(live.locator(".chat-attachment-doc")).to_contain_text("notes.txt")
    wait_idle(page, 1)
    expect(live.locator("*")).to_have_count(0)
    # The page's thread keeps the question's refs (sent back with the history, kept in the
    # browser's copy when records are off).
    history = page.evaluate(
        "() => window.dash_component_api.getLayout('chat-history-store').props.data"
    )
    assert [a["name"] for a in history[0]["attachments"]] == ["worksheet.png", "notes.txt"]


def test_a_refused_upload_says_why_and_holds_send_until_removed(app_server, open_page, fake):
    page = open_page(app_server.url)
    uploads = Uploads(page)
    ready(page)
    uploads.refuse = {"type": "mismatch", "message": "The file is not what its name says."}
    choose(page, file("photo.png", b"MZ not a png", "image/png"))
    chip = page.locator(CHIPS)
    expect(chip).to_have_attribute("data-state", "error")
    expect(page.locator(PROBLEM)).to_contain_text("photo.png could not be attached:")

    page.fill("#chat-input", "Look at this")
    page.click("#chat-send-button")
    expect(page.locator(PROBLEM)).to_have_text(
        "photo.png could not be attached. Remove it (×) to send your message without it."
    )
    expect(page.locator("#chat-input")).to_have_value("Look at this")
    assert fake.requests == []

    chip.get_by_role("button", name="Remove photo.png").click()
    fake.script(Reply("Nothing attached."))
    page.click("#chat-send-button")
    wait_idle(page, 1)
    assert len(fake.requests) == 1


def test_names_are_text_and_the_words_follow_the_language(app_server, open_page):
    page = open_page(app_server.url, locale="zh-CN")
    Uploads(page)
    ready(page)
    expect(page.locator("#chat-attach-button")).to_have_attribute("aria-label", "添加附件")
    name = '<img src=x onerror="window.__ran=1">.png'
    choose(page, file(name, png(), "image/png"), file("a.exe", b"MZ"))
    expect(page.locator(f"{CHIPS} .composer-chip-name")).to_have_text(name)
    expect(page.locator(CHIPS)).to_have_attribute("data-state", "done")
    expect(page.locator(PROBLEM)).to_contain_text("a.exe 不能作为附件")
    assert page.evaluate("() => window.__ran") is None
    assert page.locator("#chat-attachments img").count() == 1  # the thumbnail only


@pytest.fixture(scope="module")
def text_only(start_app):
    """A server whose one model cannot see images (services/vision.py: not by its name)."""
    return start_app(OPENAI_MODEL="gpt-3.5-turbo")


def test_an_image_for_a_model_that_cannot_see_is_refused_before_sending(text_only, open_page, fake):
    page = open_page(text_only.url)
    Uploads(page)
    ready(page)
    model = "gpt-3.5-turbo"
    config = page.evaluate(
        "() => window.dash_component_api.getLayout('chat-page-config').props.data"
    )
    assert model not in config["visionModels"]
    choose(page, file("photo.png", png(), "image/png"))
    expect(page.locator(f"{CHIPS}[data-state=done]")).to_have_count(1)
    page.fill("#chat-input", "What is this?")
    page.click("#chat-send-button")
    expect(page.locator(PROBLEM)).to_have_text(
        f"{model} cannot see images. Pick a model that can, or remove the images."
    )
    # Nothing lost, nothing sent.
    expect(page.locator("#chat-input")).to_have_value("What is this?")
    expect(page.locator(CHIPS)).to_have_count(1)
    assert fake.requests == []
    # A document alone is fine for any model.
    page.get_by_role("button", name="Remove photo.png").click()
    choose(page, file("notes.txt", b"notes"))
    expect(page.locator(f"{CHIPS}[data-state=done]")).to_have_count(1)
    fake.script(Reply("Read."))
    page.click("#chat-send-button")
    wait_idle(page, 1)
    assert len(fake.requests) == 1


def test_chips_fit_a_phone(app_server, open_page):
    page = open_page(
        app_server.url,
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    Uploads(page)
    ready(page)
    long_name = "a photo of the whiteboard after the lesson on fractions " * 3 + ".png"
    choose(
        page,
        file(long_name, png(), "image/png"),
        file("lab-report.txt", b"report"),
        file("worksheet.png", png(), "image/png"),
    )
    expect(page.locator(f"{CHIPS}[data-state=done]")).to_have_count(3)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    composer = page.locator(".composer-box").bounding_box()
    assert composer["x"] >= 0 and composer["x"] + composer["width"] <= 360
    assert composer["y"] + composer["height"] <= 740
    for target in ("#chat-attach-button", ".composer-chip-remove", "#chat-send-button"):
        for found in page.locator(target).all():
            size = found.bounding_box()
            assert size["width"] >= 40 and size["height"] >= 40, (target, size)


def test_a_stopped_turn_keeps_its_questions_attachments(app_server, open_page, fake):
    page = open_page(app_server.url)
    uploads = Uploads(page)
    ready(page)
    choose(page, file("worksheet.png", png(), "image/png"), file("notes.txt", b"hello\n"))
    expect(page.locator(f"{CHIPS}[data-state=done]")).to_have_count(2)
    fake.script(Reply("Slowly now. " * 80, chunk_size=4, delay=0.05))
    page.fill("#chat-input", "Read these slowly")
    page.press("#chat-input", "Enter")
    expect(page.locator("#chat-live-reply")).to_contain_text("Slowly", timeout=10_000)
    page.click("#chat-stop-button")
    wait_idle(page, 1)
    # Drawn from what the page saw (no final event): the question with its attachments.
    question = page.locator("#chat-history-list .chat-message-user")
    expect(question.locator(".chat-attachment-image img")).to_have_attribute(
        "src", f"/api/attachments/{uploads.ids['worksheet.png']}/thumbnail"
    )
    expect(question.locator(".chat-attachment-doc")).to_contain_text("notes.txt")
