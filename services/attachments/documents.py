"""Documents read into located passages: PDF (PDFium), DOCX, XLSX, CSV, TXT and Markdown.

A passage is at most about PASSAGE_TOKENS tokens and never crosses a page (PDF) or a sheet
(XLSX), so whatever finds it can say where it was read. Passages are cut at paragraphs, then at
lines, then at sentences, and only as a last resort inside a sentence.

Every file here is untrusted: a corrupt file is `AttachmentError("corrupt")`, a password-
protected one "encrypted", one without any text "empty". A PDF whose pages have no text layer (a
scan) is no error: it reads as no passages and the note "no_text". Limits keep a hostile file
from costing much: zips (DOCX, XLSX) that would unpack to more than MAX_UNZIPPED_BYTES are
refused, and reading stops after MAX_PAGES pages, MAX_CELLS cells (empty cells and rows
count too) or MAX_TEXT_CHARS characters (the rest of such a document is not searched).
"""

from __future__ import annotations

import csv
import io
import re
import threading
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from services.attachments.errors import AttachmentError
from services.tokens import count_text

# Passages are counted with the encoding of current OpenAI models (an estimate for others).
TOKEN_MODEL = "gpt-4o"
PASSAGE_TOKENS = 400
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024
MAX_ZIP_ENTRIES = 10_000
MAX_PAGES = 3000
MAX_CELLS = 2_000_000
MAX_TEXT_CHARS = 4_000_000
# An Office file with a password is not a zip but an OLE compound file holding the encrypted zip.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# PDFium is not thread-safe: one document at a time in this process.
_pdfium_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Passage:
    """A piece of a document: `location` is "page 150" (PDF), "sheet Sales" (XLSX) or ""."""

    location: str
    text: str


@dataclass(frozen=True, slots=True)
class Document:
    """A document's passages, its pages (PDF) or sheets (XLSX), and a note such as "no_text"."""

    passages: list[Passage] = field(default_factory=list)
    pages: int | None = None
    note: str | None = None


def read_document(data: bytes, kind: str) -> Document:
    """Read `data` (a document of `kind`: pdf, docx, xlsx, csv, txt, md) into passages."""
    if not data:
        raise AttachmentError("empty")
    readers = {
        "pdf": _read_pdf,
        "docx": _read_docx,
        "xlsx": _read_xlsx,
        "csv": _read_csv,
        "txt": _read_text,
        "md": _read_text,
    }
    reader = readers.get(kind)
    if reader is None:
        raise AttachmentError("unsupported")
    document = reader(data)
    if not document.passages and document.note is None:
        raise AttachmentError("empty")
    return document


# --------------------------------------------------------------------------- formats


def _read_pdf(data: bytes) -> Document:
    import pypdfium2 as pdfium

    texts: list[str] = []
    with _pdfium_lock:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as error:
            # PDFium's FPDF_ERR_PASSWORD: a password is needed to open it.
            if getattr(error, "err_code", None) == 4:
                raise AttachmentError("encrypted") from None
            raise AttachmentError("corrupt") from None
        try:
            pages = len(pdf)
            size = 0
            for index in range(min(pages, MAX_PAGES)):
                page = pdf[index]
                try:
                    textpage = page.get_textpage()
                    try:
                        text = textpage.get_text_range()
                    finally:
                        textpage.close()
                finally:
                    page.close()
                texts.append(text)
                size += len(text)
                if size > MAX_TEXT_CHARS:
                    break
        except pdfium.PdfiumError:
            raise AttachmentError("corrupt") from None
        finally:
            pdf.close()
    if pages == 0:
        raise AttachmentError("empty")
    passages: list[Passage] = []
    for number, text in enumerate(texts, start=1):
        passages.extend(split_passages(_clean(text), f"page {number}"))
    return Document(passages, pages=pages, note=None if passages else "no_text")


def _open_zip(data: bytes) -> None:
    """Refuse an Office file that is encrypted, not a zip, or a zip bomb."""
    if data.startswith(_OLE_MAGIC):
        raise AttachmentError("encrypted")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise AttachmentError("corrupt") from None
    # Reading a member never yields more than its declared size, so the declared sizes bound
    # what unpacking costs.
    if len(entries) > MAX_ZIP_ENTRIES or sum(e.file_size for e in entries) > MAX_UNZIPPED_BYTES:
        raise AttachmentError("corrupt")


def _read_docx(data: bytes) -> Document:
    _open_zip(data)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        size = 0
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                text = "\n".join(_cells_line(_row_cells(row)) for row in block.rows)
            else:
                text = block.text
            text = _clean(text)
            if text:
                blocks.append(text)
                size += len(text)
                if size > MAX_TEXT_CHARS:
                    break
    except AttachmentError:
        raise
    except Exception:  # python-docx and lxml raise many kinds on a damaged file
        raise AttachmentError("corrupt") from None
    return Document(split_passages("\n\n".join(blocks), ""))


def _row_cells(row) -> list[str]:
    """A table row's cells, a merged cell once (python-docx repeats it for each grid column)."""
    cells: list[str] = []
    previous = None
    for cell in row.cells:
        if cell._tc is previous:
            continue
        previous = cell._tc
        cells.append(cell.text)
    return cells


def _read_xlsx(data: bytes) -> Document:
    _open_zip(data)
    import openpyxl

    passages: list[Passage] = []
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheets = workbook.worksheets
            cells = 0
            for sheet in sheets:
                # Rows as the file has them: a dimension the file declares (often A1:XFD...,
                # after whole rows were formatted) would pad every row to 16,384 cells.
                sheet.reset_dimensions()
                lines: list[str] = []
                for row in sheet.iter_rows(values_only=True):
                    cells += len(row) + 1  # an empty row costs too
                    line = _cells_line(row)
                    if line:
                        lines.append(line)
                    if cells > MAX_CELLS:
                        break
                passages.extend(_split_rows(lines, f"sheet {sheet.title}"))
                if cells > MAX_CELLS:
                    break
        finally:
            workbook.close()
    except AttachmentError:
        raise
    except Exception:  # openpyxl raises many kinds on a damaged file
        raise AttachmentError("corrupt") from None
    return Document(passages, pages=len(sheets))


def _read_csv(data: bytes) -> Document:
    text = _decode(data)
    try:
        # A short sample: the sniffer's regular expressions take quadratic time on some input
        # (~2 s for 20,000 characters of `,"` here; 4,096 take a few tens of ms).
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    lines: list[str] = []
    cells = 0
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            cells += len(row)
            line = _cells_line(row)
            if line:
                lines.append(line)
            if cells > MAX_CELLS:
                break
    except csv.Error:
        raise AttachmentError("corrupt") from None
    return Document(_split_rows(lines, ""))


def _read_text(data: bytes) -> Document:
    return Document(split_passages(_clean(_decode(data)[:MAX_TEXT_CHARS]), ""))


# --------------------------------------------------------------------------- text


def _decode(data: bytes) -> str:
    """UTF-8 (with or without a BOM), else GB18030 (Chinese files saved by Windows), else
    UTF-8 with the undecodable bytes replaced."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t\u3000]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")


def _clean(text: str) -> str:
    """Valid UTF-8, newlines as \\n, no control characters (PDFium marks a hyphen at a line's
    end with \\x02), no trailing spaces, at most one blank line in a row."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a PDF's broken UTF-16): no database takes it
        text = text.encode("utf-8", "replace").decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text + "\n")
    return _BLANK_LINES.sub("\n\n", text).strip()


def _cells_line(cells: Iterable[object]) -> str:
    """A row as one line: its cells tab-separated, trailing empty cells dropped."""
    values = ("" if value is None else str(value) for value in islice(cells, MAX_CELLS))
    # Cleaned as one string, not cell by cell (a million-cell row of a hostile CSV).
    line = _CELL_BREAKS.sub(" ", _CELL_SEPARATOR.join(values))
    line = _CONTROLS.sub("", line.replace(_CELL_SEPARATOR, "\t"))
    return line.rstrip("\t ")


# Between cells while a row is cleaned: the unit separator, which no real cell holds (one that
# does gains a column).
_CELL_SEPARATOR = "\x1f"
# A cell's own line breaks and tabs: spaces, so that a row stays one line.
_CELL_BREAKS = re.compile(r"[\r\n\t]+")


# --------------------------------------------------------------------------- passages


def _tokens(text: str) -> int:
    return count_text(text, TOKEN_MODEL)


# After a sentence's end (zero-width: the space after it stays, so the cut loses nothing).
_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])")


def _pieces(text: str, limit: int) -> Iterator[tuple[str, int, str]]:
    """(piece, tokens, separator before it) for a text cut at paragraphs, then lines, then
    sentences, then characters, so that each piece has at most `limit` tokens."""
    levels = (("\n\n", re.compile(r"\n\n")), ("\n", re.compile(r"\n")), ("", _SENTENCE_END))

    def cut(
        part: str, level: int, separator: str, tokens: int | None = None
    ) -> Iterator[tuple[str, int, str]]:
        if tokens is None:
            tokens = _tokens(part)
        if tokens <= limit:
            yield part, tokens, separator
            return
        if level == len(levels):
            # One long run without any break: cut by characters, in proportion to tokens.
            size = max(1, len(part) * limit * 9 // (tokens * 10))
            for start in range(0, len(part), size):
                yield from cut(part[start : start + size], level, separator if start == 0 else "")
            return
        joiner, pattern = levels[level]
        subs = pattern.split(part)
        # Paragraphs and lines lose their spaces at both ends; sentences keep theirs.
        subs = [sub.strip() for sub in subs if sub.strip()] if joiner else [s for s in subs if s]
        if len(subs) == 1:  # nothing to cut at this level: the next one, without counting again
            yield from cut(subs[0], level + 1, separator, tokens if subs[0] == part else None)
            return
        for index, sub in enumerate(_merged(subs, joiner, limit)):
            yield from cut(sub, level + 1, separator if index == 0 else joiner)

    yield from cut(text, 0, "")


def _merged(parts: list[str], joiner: str, limit: int) -> Iterator[str]:
    """Neighbouring parts joined while their UTF-8 size is at most `limit`, which bounds their
    tokens (a token is at least a byte): counted once together, not once each (a text of two
    million one-letter lines took 14 s)."""
    run: list[str] = []
    size = 0
    for part in parts:
        length = len(part.encode("utf-8", "surrogatepass"))
        if run and size + len(joiner) + length > limit:
            yield joiner.join(run)
            run, size = [], 0
        run.append(part)
        size += length + (len(joiner) if len(run) > 1 else 0)
    if run:
        yield joiner.join(run)


def split_passages(
    text: str, location: str, *, limit: int = PASSAGE_TOKENS, header: str = ""
) -> list[Passage]:
    """`text` (one page, one sheet or a whole file) as passages of at most ~`limit` tokens.
    `header` (a table's first row) starts every passage after the first, so each can be read
    on its own."""
    if not text.strip():
        return []
    passages: list[Passage] = []
    header_tokens = _tokens(header) + 1 if header else 0
    if header_tokens > limit // 2:  # a header that long would crowd out the rows
        header, header_tokens = "", 0
    parts: list[str] = []
    used = 0
    for piece, tokens, separator in _pieces(text, limit):
        if parts and used + tokens + 1 > limit:
            passages.append(Passage(location, "".join(parts)))
            parts, used = ([header, "\n"], header_tokens) if header else ([], 0)
            separator = ""
        parts.extend((separator, piece) if parts else (piece,))
        used += tokens + (1 if separator else 0)
    if parts:
        passages.append(Passage(location, "".join(parts)))
    return [Passage(p.location, p.text.strip()) for p in passages]


def _split_rows(lines: list[str], location: str) -> list[Passage]:
    """A table's lines as passages, each later one starting with the table's first row."""
    if not lines:
        return []
    header = lines[0] if len(lines) > 1 else ""
    return split_passages("\n".join(lines), location, header=header)
