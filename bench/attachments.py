"""Attachments (issue 18): what reading a document costs the server.

    python bench/attachments.py [--extract] [--page] [--pages 200] [--runs 5]
                                [--database-url postgresql://...] [--width 4032 --height 3024]

Each part is one function (`measure_<part>`); with no part named, all of them run.

--extract: the server's time to take in a long PDF, as `AttachmentStore.add` does it: a text
PDF of `--pages` A4 pages (40 lines each, made with reportlab, one distinctive sentence on page
150) is read by `read_document` (PDFium's text per page, cut into passages of at most ~400
tokens, each counted) and its passages saved by `save_passages` (search terms, one INSERT of all
rows; SQLite's FTS5 triggers or PostgreSQL's generated tsvector index them) in one transaction,
committed, into a fresh records database (SQLite by default; `--database-url` for an EMPTY
PostgreSQL database or schema). The tokenizer is loaded first, as gunicorn.conf.py does at
start-up; the first run is shown apart (it imports PDFium). Then a search for the sentence checks
that what was saved is found.

--page: the time from dropping a photo on the chat page to its thumbnail. The fake upstream and
`gunicorn chat_app:server` (shipped gunicorn.conf.py, records on, SQLite) run on 127.0.0.1;
headless Chromium opens the page and, per run, drops one generated JPEG photo (`--width` x
`--height`, a phone camera's by default) on the thread, as a user drags a file from their
desktop. Times are taken in the page (performance.now) from the drop event: until the chip's
local thumbnail is decoded (the browser alone, assets/attach.js), until the server has answered
the upload (POST /api/attachments: read, sniffed, turned upright, EXIF dropped, resized,
thumbnail made, stored), and until the server's thumbnail (the one the thread shows) has loaded.
The chip is removed (DELETE) between runs; one warm-up run comes first.

Numbers only, no pass/fail.
"""

from __future__ import annotations

import argparse
import base64
import io
import tempfile
import time
import uuid

import _common as common
from PIL import Image

EXTRACT_TARGET = 2.0  # seconds, issue 18


def _attachment_row(connection, attachment_id: str) -> None:
    """The attachments row the passages belong to (their foreign key)."""
    from sqlalchemy import insert

    from services.records.models import Attachment, utcnow

    connection.execute(
        insert(Attachment).values(
            id=attachment_id,
            owner="bench",
            name="report.pdf",
            kind="document",
            mime="application/pdf",
            size=0,
            created_at=utcnow(),
        )
    )


def measure_extract(args: argparse.Namespace) -> None:
    """A long PDF read into passages and saved with their search terms."""
    from services import tokens
    from services.attachments.documents import read_document
    from services.attachments.passages import save_passages, search
    from services.records import Records
    from tests import sample_documents as samples

    data = samples.long_pdf(pages=args.pages)
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='chat-bench-att-')}/chat.db"
    records = Records(url)
    records.upgrade()
    start = time.perf_counter()
    tokens.warm()
    warm = time.perf_counter() - start
    database = "SQLite" if records.is_sqlite else "PostgreSQL"
    print(f"extract: a {args.pages}-page text PDF of {len(data) / 1024:.0f} KiB into {database}")
    print(f"  tokenizer loaded first (as at gunicorn start-up): {common.ms(warm)} ms\n")

    reads, saves, totals = [], [], []
    passages = total_tokens = 0
    last_id = ""
    for _ in range(args.runs + 1):
        last_id = uuid.uuid4().hex
        start = time.perf_counter()
        document = read_document(data, "pdf")
        read = time.perf_counter()
        with records.engine.begin() as connection:
            _attachment_row(connection, last_id)
            total_tokens = save_passages(connection, last_id, document.passages)
        done = time.perf_counter()
        reads.append(read - start)
        saves.append(done - read)
        totals.append(done - start)
        passages = len(document.passages)
    with records.engine.connect() as connection:
        found = search(connection, [last_id], samples.QUESTION, limit=1)
    records.close()

    print(f"  {passages} passages, {total_tokens:,} tokens (gpt-4o's encoding)")

    def row(step: str, times: list[float]) -> tuple[str, str, str, str]:
        later = times[1:]
        return (step, common.ms(times[0]), common.ms(common.median(later)), common.ms(max(later)))

    common.table(
        ["step", "first run ms", f"median of {args.runs} ms", "max ms"],
        [
            row("read_document (PDFium, passages)", reads),
            row("save_passages + commit", saves),
            row("total", totals),
        ],
    )
    print(f"  target: < {EXTRACT_TARGET * 1000:.0f} ms")
    where = found[0].location if found else "nothing"
    print(f"  search for page {samples.SENTENCE_PAGE}'s sentence found: {where}\n")


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


def measure_page(args: argparse.Namespace) -> None:
    """Drop a photo on the page: its local thumbnail, the upload's answer, the server's
    thumbnail."""
    from playwright.sync_api import sync_playwright

    data = photo(args.width, args.height)
    with (
        common.upstream() as up,
        common.app(up, records=True) as app,
        sync_playwright() as playwright,
    ):
        browser = common.launch_chromium(playwright)
        print(f"page: a {args.width}x{args.height} JPEG photo of {common.kib(len(data))}")
        print(f"  {common.describe_app(app, records=True)}")
        print(f"  headless Chromium {browser.version}, 1100x760; ms from the drop event\n")
        try:
            context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
            page = context.new_page()
            page.goto(app.url)
            page.wait_for_selector("#chat-attach-input", state="attached", timeout=30_000)
            page.evaluate(INSTRUMENT)
            page.evaluate(MAKE_FILE, [base64.b64encode(data).decode(), "photo.jpg"])
            samples: list[dict] = []
            for index in range(args.runs + 1):
                marks = page.evaluate("window.__dropPhoto()")
                if marks.get("error"):
                    raise SystemExit(f"run {index}: {marks['error']}")
                if index:
                    samples.append(marks)
                page.locator("#chat-attachments .composer-chip-remove").first.click()
                page.wait_for_selector("#chat-attachments", state="hidden")
            context.close()
        finally:
            browser.close()

    rows = []
    for key, label in (
        ("local", "chip's local thumbnail decoded"),
        ("uploaded", "upload answered (stored, resized)"),
        ("server", "server's thumbnail loaded"),
    ):
        values = [sample[key] for sample in samples]
        rows.append((label, f"{common.median(values):.0f}", f"{common.percentile(values, 90):.0f}"))
    common.table(["from the drop", f"median of {args.runs} ms", "p90 ms"], rows)
    print()


PARTS = {"extract": measure_extract, "page": measure_page}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, measure in PARTS.items():
        parser.add_argument(f"--{name}", action="store_true", help=measure.__doc__)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--database-url", default=None, help="an EMPTY PostgreSQL database (default: SQLite)"
    )
    parser.add_argument("--width", type=int, default=4032, help="--page: the photo's width")
    parser.add_argument("--height", type=int, default=3024, help="--page: the photo's height")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    chosen = [name for name in PARTS if getattr(args, name)] or list(PARTS)
    timer = common.Timer()
    common.header(
        "attachments: " + ", ".join(chosen),
        args,
        packages=("pypdfium2", "python-docx", "openpyxl", "reportlab", "sqlalchemy", "pillow"),
    )
    for name in chosen:
        PARTS[name](args)
    timer.done()


if __name__ == "__main__":
    main()
