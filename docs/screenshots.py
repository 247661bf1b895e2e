"""Take the README's pictures: the chat page light, dark, on a phone, and with attachments.

    python docs/screenshots.py

It runs the app as the browser tests do (gunicorn against the fake upstream in
tests/fake_upstream.py, Debian's Chromium through Playwright), asks one question whose scripted
reply has a table, code and a formula, and writes docs/screenshot.png, docs/screenshot-dark.png
and docs/screenshot-phone.png; then docs/screenshot-attachments.png: a question about a
photographed worksheet answered (its thumbnail in the thread), and the next one being written
with a photo and a PDF attached. Nothing leaves the machine. The question and reply are in
Chinese: the machine needs a CJK font (Debian: `apt-get install fonts-noto-cjk`).
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import Browser, Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import TEST_KEY  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, AppProcess, _chromium  # noqa: E402
from tests.fake_upstream import FakeUpstream, Reply  # noqa: E402

QUESTION = "用表格比较 TCP 和 UDP，再给一个 Python 例子"
REPLY = r"""**TCP** 可靠、有序；**UDP** 快、无连接。

| | TCP | UDP |
|---|---|---|
| 连接 | 需要 | 不需要 |
| 保证送达 | 是 | 否 |
| 常见用途 | 网页、邮件 | 视频通话、游戏 |

```python
import socket

with socket.create_connection(("example.com", 80)) as conn:
    conn.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
    print(conn.recv(200))
```

丢包率为 \(p\) 时，连发 \(n\) 次都丢的概率是 \(p^n\)。
"""

SHOTS = [
    # file, viewport, color scheme, phone, regenerated once (shows `‹ 2 / 2 ›`)
    ("screenshot.png", {"width": 1280, "height": 800}, "light", False, True),
    ("screenshot-dark.png", {"width": 1280, "height": 800}, "dark", False, False),
    ("screenshot-phone.png", {"width": 390, "height": 844}, "light", True, False),
]


def settle(page: Page) -> None:
    page.locator(".chat-message-assistant .katex").first.wait_for(timeout=20_000)
    page.wait_for_selector("#chat-stop-button", state="hidden", timeout=20_000)
    page.wait_for_timeout(500)  # let the last layout settle before the picture


def ask(page: Page, *, regenerate: bool) -> None:
    page.fill("#chat-input", QUESTION)
    page.click("#chat-send-button")
    settle(page)
    if regenerate:
        page.locator(".chat-regenerate-button").locator("visible=true").click()
        page.locator(".chat-version-label").wait_for(timeout=20_000)
        settle(page)


WORKSHEET_QUESTION = "How do I solve question 3 on this worksheet?"
WORKSHEET_REPLY = r"""Question 3 asks for the area of a triangle with base 8 cm and height 5 cm.

Use \(A = \tfrac{1}{2} \times b \times h\): half of 8 × 5 is **20 cm²**.
"""
NEXT_QUESTION = "Does the lab report say the same as this photo?"


def worksheet() -> bytes:
    """A photographed worksheet: a page of exercises on a desk."""
    page = Image.new("RGB", (900, 1200), (250, 248, 240))
    draw = ImageDraw.Draw(page)
    title, body = ImageFont.load_default(44), ImageFont.load_default(30)
    draw.text((70, 70), "Geometry: area", fill=(30, 30, 30), font=title)
    lines = [
        "1. A square has sides of 6 cm. Find its area.",
        "2. A rectangle is 7 cm by 3 cm. Find its area.",
        "3. A triangle has base 8 cm and height 5 cm.",
        "    Find its area.",
        "4. Draw a shape with an area of 12 cm².",
    ]
    for row, line in enumerate(lines):
        draw.text((70, 190 + row * 70), line, fill=(40, 40, 40), font=body)
    draw.polygon([(250, 800), (650, 800), (420, 550)], outline=(20, 70, 160), width=5)
    desk = Image.new("RGB", (1100, 1300), (120, 90, 60))
    desk.paste(page.rotate(4, expand=True, fillcolor=(120, 90, 60)), (40, 10))
    out = io.BytesIO()
    desk.save(out, "JPEG", quality=85)
    return out.getvalue()


def lab_report() -> bytes:
    """A two-page PDF with a text layer (reportlab, in requirements-dev.txt)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    for number in (1, 2):
        pdf.drawString(72, 760, f"Lab report, page {number}: measured area 20.1 cm2")
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def attach(page: Page, *files: dict) -> None:
    with page.expect_file_chooser() as chooser:
        page.click("#chat-attach-button")
    chooser.value.set_files(list(files))
    page.locator("#chat-attachments .composer-chip[data-state=done]").nth(len(files) - 1).wait_for(
        timeout=20_000
    )


def attachments_shot(browser: Browser, app: AppProcess, fake: FakeUpstream) -> None:
    """A worksheet asked about (its thumbnail in the thread), then a photo and a PDF attached
    to the next question."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(app.url)
    page.wait_for_selector(".chat-welcome", timeout=20_000)
    fake.reset()  # the shots before may have left a scripted reply unused
    photo = {"name": "worksheet.jpg", "mimeType": "image/jpeg", "buffer": worksheet()}
    attach(page, photo)
    fake.script(Reply(WORKSHEET_REPLY, chunk_size=12))
    page.fill("#chat-input", WORKSHEET_QUESTION)
    page.click("#chat-send-button")
    page.locator(".chat-message-assistant .katex").first.wait_for(timeout=20_000)
    page.wait_for_selector("#chat-stop-button", state="hidden", timeout=20_000)
    page.locator("#chat-history-list .chat-attachment-image img").wait_for(timeout=20_000)
    report = {"name": "lab-report.pdf", "mimeType": "application/pdf", "buffer": lab_report()}
    attach(page, photo, report)
    page.fill("#chat-input", NEXT_QUESTION)
    page.wait_for_function(
        "() => [...document.querySelectorAll('img')].every((img) => img.complete)"
    )
    page.wait_for_timeout(500)  # let the last layout settle before the picture
    page.screenshot(path=str(REPO / "docs" / "screenshot-attachments.png"))
    print("wrote docs/screenshot-attachments.png")
    context.close()


def main() -> None:
    with FakeUpstream(api_key=TEST_KEY) as fake, tempfile.TemporaryDirectory() as data:
        app = AppProcess(
            {
                "OPENAI_API_KEY": TEST_KEY,
                "OPENAI_BASE_URL": fake.base_url,
                "APP_TITLE": "ChatGPT",
                "DATABASE_URL": f"sqlite:///{data}/records.db",
            }
        )
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=_chromium(), args=CHROMIUM_ARGS
                )
                for name, viewport, scheme, phone, regenerate in SHOTS:
                    context = browser.new_context(
                        locale="zh-CN",
                        viewport=viewport,
                        color_scheme=scheme,
                        is_mobile=phone,
                        has_touch=phone,
                        device_scale_factor=2 if phone else 1,
                    )
                    page = context.new_page()
                    page.goto(app.url)
                    page.wait_for_selector(".chat-welcome", timeout=20_000)
                    fake.script(Reply(REPLY, chunk_size=12), Reply(REPLY, chunk_size=12))
                    ask(page, regenerate=regenerate)
                    page.screenshot(path=str(REPO / "docs" / name))
                    print(f"wrote docs/{name}")
                    context.close()
                attachments_shot(browser, app, fake)
                browser.close()
        finally:
            app.stop()


if __name__ == "__main__":
    main()
