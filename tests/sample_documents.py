"""Documents made on the fly for the attachments' tests and bench: PDFs (reportlab), DOCX
(python-docx), XLSX (openpyxl). Each page or row has text of its own, so a search that finds the
wrong one shows."""

from __future__ import annotations

import io
import zipfile

# The sentence on page 150 of the long PDF, and a question that should find it.
SENTENCE = "The purple giraffe signed the harbour lease on a rainy Tuesday."
QUESTION = "Who signed the harbour lease?"
SENTENCE_PAGE = 150

_TOPICS = (
    "budget",
    "staffing",
    "inventory",
    "logistics",
    "training",
    "maintenance",
    "marketing",
    "compliance",
)


def filler_line(page: int, line: int) -> str:
    topic = _TOPICS[(page + line) % len(_TOPICS)]
    return f"Section {page}.{line}: the {topic} review for this quarter lists figures and notes."


def long_pdf(pages: int = 200, extra: dict[int, str] | None = None, lines: int = 40) -> bytes:
    """A text PDF of `pages` A4 pages of `lines` lines each; `extra` adds a line to a page
    (1-based), by default SENTENCE on page SENTENCE_PAGE."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    extra = {SENTENCE_PAGE: SENTENCE} if extra is None else extra
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for page in range(1, pages + 1):
        y = 800
        for line in range(lines):
            pdf.drawString(40, y, filler_line(page, line))
            y -= 18
        if page in extra:
            pdf.drawString(40, 40, extra[page])
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


CHINESE_SENTENCE = "一线城市的住宿标准为每晚六百元，需提前三天预订。"
CHINESE_QUESTION = "一线城市住宿标准是多少？"
CHINESE_TOPICS = ("预算", "人员", "库存", "物流", "培训", "维护")


def chinese_pdf(pages: int = 30, extra: dict[int, str] | None = None) -> bytes:
    """A Chinese text PDF (reportlab's built-in STSong-Light font); `extra` as in long_pdf, by
    default CHINESE_SENTENCE on page 17."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    extra = {17: CHINESE_SENTENCE} if extra is None else extra
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for page in range(1, pages + 1):
        pdf.setFont("STSong-Light", 11)
        for line in range(30):
            topic = CHINESE_TOPICS[(page + line) % len(CHINESE_TOPICS)]
            text = f"本季度{topic}审查列出了各项数字和说明，第{line}条。"
            pdf.drawString(40, 800 - 20 * line, text)
        if page in extra:
            pdf.drawString(40, 60, extra[page])
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    """A PDF that needs a password to open."""
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    encrypt = pdfencrypt.StandardEncryption("user-secret", "owner-secret")
    pdf = canvas.Canvas(buffer, encrypt=encrypt)
    pdf.drawString(40, 800, "Confidential figures.")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def image_pdf(pages: int = 2) -> bytes:
    """A "scanned" PDF: each page is a picture, with no text layer."""
    from PIL import Image, ImageDraw
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    picture = Image.new("RGB", (300, 120), "white")
    ImageDraw.Draw(picture).text((10, 50), "Scanned lab report", fill="black")
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for _ in range(pages):
        pdf.drawImage(ImageReader(picture), 40, 600, width=300, height=120)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def docx_file(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.add_paragraph("The end.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def xlsx_file(sheets: dict[str, list[list[object]]]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def zip_bomb_docx(unpacked_mb: int = 101) -> bytes:
    """A real DOCX with one more part of `unpacked_mb` MB of zeros (a few hundred KB packed)."""
    base = docx_file(["A harmless looking letter."])
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(base)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for item in source.infolist():
            bomb.writestr(item, source.read(item.filename))
        with bomb.open("word/media/padding.bin", "w") as padding:
            chunk = bytes(1024 * 1024)
            for _ in range(unpacked_mb):
                padding.write(chunk)
    return buffer.getvalue()
