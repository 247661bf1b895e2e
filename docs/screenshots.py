"""Take the README's pictures: the chat page light, dark, and on a phone.

    python docs/screenshots.py

It runs the app as the browser tests do (gunicorn against the fake upstream in
tests/fake_upstream.py, Debian's Chromium through Playwright), asks one question whose scripted
reply has a table, code and a formula, and writes docs/screenshot.png, docs/screenshot-dark.png
and docs/screenshot-phone.png. Nothing leaves the machine. The question and reply are in
Chinese: the machine needs a CJK font (Debian: `apt-get install fonts-noto-cjk`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

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
                browser.close()
        finally:
            app.stop()


if __name__ == "__main__":
    main()
