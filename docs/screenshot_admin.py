"""Take the README's picture of the admin console: docs/screenshot-admin.png.

    python docs/screenshot_admin.py

Seeds a temporary SQLite database (tests/admin_seed.py: 60 users, 6,000 messages over 30
days), runs the app as the browser tests do (gunicorn, ACCOUNTS=true, no model needed), signs
in as the seeded admin in Debian's Chromium and photographs the top of /admin.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.records.repository import Records  # noqa: E402
from tests.admin_seed import PASSWORD, seed  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, AppProcess, _chromium  # noqa: E402


def main() -> None:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='chat-admin-shot-')}/chat.db"
    records = Records(url)
    records.upgrade()
    seed(records._writer, users=60, messages=6000)
    records.close()
    app = AppProcess({"OPENAI_API_KEY": "sk-not-used", "ACCOUNTS": "true", "DATABASE_URL": url})
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            context = browser.new_context(
                viewport={"width": 1280, "height": 1100}, locale="en-US", color_scheme="light"
            )
            context.request.post(
                f"{app.url}/login", data={"username": "admin", "password": PASSWORD}
            )
            page = context.new_page()
            page.goto(f"{app.url}/admin")
            page.wait_for_selector("#admin-usage-graph .barlayer .trace")
            page.wait_for_selector("#admin-users-table .ant-table-row")
            page.wait_for_timeout(500)  # Plotly's transition
            page.screenshot(path=str(REPO / "docs" / "screenshot-admin.png"))
            browser.close()
    finally:
        app.stop()


if __name__ == "__main__":
    main()
