"""Attachments in the page: time from dropping a photo on the page to its thumbnail.

    python bench/attachment_page.py [--runs 10] [--warmup 2] [--width 4032] [--height 3024]

Starts the fake upstream (its own process) and `gunicorn chat_app:server` (shipped
gunicorn.conf.py, records on, SQLite) on 127.0.0.1, opens the page in headless Chromium and,
per run, drops one generated JPEG photo (a phone camera's size by default) on the thread, as a
user drags a file from their desktop. Times are taken in the page (performance.now), from the
drop event: until the chip's local thumbnail is decoded (the browser alone, assets/attach.js),
until the server has answered the upload (POST /api/attachments: read, sniffed, resized,
EXIF stripped, thumbnail made, stored), and until the server's thumbnail (the one the thread
shows) has loaded. The chip is removed (DELETE) between runs. Numbers only, no pass/fail.
"""

from __future__ import annotations

import argparse
import base64
import io

import _common as common
from PIL import Image
from playwright.sync_api import sync_playwright

# Installed in the page: `__dropPhoto()` drops window.__photo and resolves with the times.
INSTRUMENT = """() => {
window.__dropPhoto = () => new Promise((resolve) => {
  const row = document.getElementById("chat-attachments");
  const before = row.querySelectorAll(".composer-chip").length;
  const transfer = new DataTransfer();
  transfer.items.add(window.__photo);
  const marks = {};
  const finish = () => {
    if (marks.local !== undefined && (marks.server !== undefined || marks.error)) resolve(marks);
  };
  const t0 = performance.now();
  const target = document.querySelector(".chat-column");
  const options = { dataTransfer: transfer, bubbles: true, cancelable: true };
  target.dispatchEvent(new DragEvent("drop", options));
  const chip = row.querySelectorAll(".composer-chip")[before];
  chip.querySelector("img").decode().then(() => {
    marks.local = performance.now() - t0;
    finish();
  });
  const watch = new MutationObserver(() => {
    const state = chip.getAttribute("data-state");
    if (state === "uploading") return;
    watch.disconnect();
    marks.uploaded = performance.now() - t0;
    if (state !== "done") {
      marks.error = chip.title;
      return finish();
    }
    const thumb = new Image();
    thumb.onload = () => {
      marks.server = performance.now() - t0;
      finish();
    };
    thumb.onerror = () => {
      marks.error = "the server's thumbnail did not load";
      finish();
    };
    thumb.src = "api/attachments/" + chip.getAttribute("data-id") + "/thumbnail";
  });
  watch.observe(chip, { attributes: true, attributeFilter: ["data-state"] });
});
}"""

MAKE_FILE = """
([data, name]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  window.__photo = new File([bytes], name, { type: "image/jpeg" });
}
"""


def photo(width: int, height: int) -> bytes:
    """A JPEG that compresses like a photo (gradients and grain), not like a flat colour."""
    grain = Image.effect_noise((width, height), 24)
    across = Image.linear_gradient("L").resize((width, height))
    down = across.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    out = io.BytesIO()
    Image.merge("RGB", (across, grain, down)).save(out, "JPEG", quality=88)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="measured runs (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="runs before measuring")
    parser.add_argument("--width", type=int, default=4032)
    parser.add_argument("--height", type=int, default=3024)
    args = parser.parse_args()
    timer = common.Timer()
    data = photo(args.width, args.height)

    with (
        common.upstream() as up,
        # A photo is larger than a chat request: the body limit under gunicorn must let
        # MAX_ATTACHMENT_MB (20) through.
        common.app(up, records=True, MAX_REQUEST_BYTES=str(21 * 1024 * 1024)) as app,
        sync_playwright() as playwright,
    ):
        browser = common.launch_chromium(playwright)
        try:
            common.header(
                "attachments: drop a photo -> its thumbnail (local, then the server's)",
                args,
                [
                    common.describe_app(app, records=True),
                    f"photo: {args.width}x{args.height} JPEG, {common.kib(len(data))}",
                    f"browser: headless Chromium {browser.version}, 1100x760; times from the "
                    "drop event, taken in the page (performance.now)",
                ],
                packages=("pillow",),
            )
            context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
            page = context.new_page()
            page.goto(app.url)
            page.wait_for_selector("#chat-attach-input", state="attached", timeout=30_000)
            page.evaluate(INSTRUMENT)
            page.evaluate(MAKE_FILE, [base64.b64encode(data).decode(), "photo.jpg"])
            samples: list[dict] = []
            for index in range(args.warmup + args.runs):
                marks = page.evaluate("window.__dropPhoto()")
                if marks.get("error"):
                    raise SystemExit(f"run {index}: {marks['error']}")
                if index >= args.warmup:
                    samples.append(marks)
                page.locator("#chat-attachments .composer-chip-remove").first.click()
                page.wait_for_selector("#chat-attachments", state="hidden")
            context.close()
        finally:
            browser.close()

    print(f"{len(samples)} runs after {args.warmup} warm-up runs (ms from the drop)")
    rows = []
    for key, label in (
        ("local", "chip's local thumbnail decoded"),
        ("uploaded", "upload answered (stored, resized)"),
        ("server", "server's thumbnail loaded"),
    ):
        values = [s[key] for s in samples]
        rows.append([label, f"{common.median(values):.0f}", f"{common.percentile(values, 90):.0f}"])
    common.table(["", "median", "p90"], rows)
    timer.done()


if __name__ == "__main__":
    main()
