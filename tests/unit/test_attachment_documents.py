"""Documents read into located passages (services/attachments/documents.py)."""

from __future__ import annotations

import threading

import pytest

from services.attachments.documents import PASSAGE_TOKENS, read_document, split_passages
from services.attachments.errors import AttachmentError
from services.tokens import count_text
from tests import sample_documents as samples

# Cut at paragraphs and lines, a passage can be a little over the limit by separators' tokens.
SLACK = 8


def tokens(text: str) -> int:
    return count_text(text, "gpt-4o")


@pytest.fixture(scope="module")
def long_pdf() -> bytes:
    return samples.long_pdf()


class TestPdf:
    def test_pages_located_and_sentence_on_its_page(self, long_pdf):
        document = read_document(long_pdf, "pdf")
        assert document.pages == 200
        assert document.note is None
        locations = {passage.location for passage in document.passages}
        assert locations == {f"page {n}" for n in range(1, 201)}
        found = [p for p in document.passages if samples.SENTENCE in p.text]
        assert [p.location for p in found] == ["page 150"]
        # Each page's text stays on its page.
        for passage in document.passages:
            page = int(passage.location.split()[1])
            assert f"Section {page}." in passage.text
            assert f"Section {page + 1}." not in passage.text

    def test_passages_are_small(self, long_pdf):
        document = read_document(long_pdf, "pdf")
        assert max(tokens(p.text) for p in document.passages) <= PASSAGE_TOKENS + SLACK
        # A page of 40 lines (~700 tokens) is two passages, not forty.
        assert len(document.passages) < 3 * 200

    def test_encrypted(self):
        with pytest.raises(AttachmentError) as raised:
            read_document(samples.encrypted_pdf(), "pdf")
        assert raised.value.code == "encrypted"
        assert raised.value.status == 400

    @pytest.mark.parametrize("cut", [0.5, 0.9])
    def test_truncated_is_corrupt(self, long_pdf, cut):
        with pytest.raises(AttachmentError) as raised:
            read_document(long_pdf[: int(len(long_pdf) * cut)], "pdf")
        assert raised.value.code == "corrupt"

    def test_not_a_pdf_is_corrupt(self):
        with pytest.raises(AttachmentError) as raised:
            read_document(b"%PDF-1.7\n" + b"garbage " * 100, "pdf")
        assert raised.value.code == "corrupt"

    def test_scan_without_text_layer(self):
        document = read_document(samples.image_pdf(pages=3), "pdf")
        assert document.passages == []
        assert document.pages == 3
        assert document.note == "no_text"

    def test_threads_take_turns(self):
        # PDFium is not thread-safe: documents read at once in threads must all come out right.
        data = samples.long_pdf(pages=12, extra={7: "Seventh page marker."})
        results: list[object] = []

        def read() -> None:
            document = read_document(data, "pdf")
            results.append([p.location for p in document.passages if "marker" in p.text])

        threads = [threading.Thread(target=read) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [["page 7"]] * 4


class TestDocx:
    def test_paragraphs_and_table(self):
        data = samples.docx_file(
            ["Lesson plan for week three.", "Pupils read the poem aloud."],
            table=[["Name", "Score"], ["Ada", "97"], ["Linus", "88"]],
        )
        document = read_document(data, "docx")
        text = "\n\n".join(p.text for p in document.passages)
        assert "Lesson plan for week three." in text
        assert "Name\tScore\nAda\t97\nLinus\t88" in text
        # Body order: paragraphs, then the table, then the last paragraph.
        assert text.index("aloud") < text.index("Ada") < text.index("The end.")
        assert {p.location for p in document.passages} == {""}
        assert document.pages is None

    def test_chinese(self):
        data = samples.docx_file(["季度报告：本季度销售额增长了百分之十二。"])
        document = read_document(data, "docx")
        assert "销售额增长" in document.passages[0].text

    def test_zip_bomb_refused(self):
        with pytest.raises(AttachmentError) as raised:
            read_document(samples.zip_bomb_docx(), "docx")
        assert raised.value.code == "corrupt"

    def test_padding_under_the_limit_is_read(self):
        # The same trick with 20 MB unpacked is just a big file.
        document = read_document(samples.zip_bomb_docx(unpacked_mb=20), "docx")
        assert "harmless" in document.passages[0].text

    def test_not_a_zip(self):
        with pytest.raises(AttachmentError) as raised:
            read_document(b"PK\x03\x04 not really a zip", "docx")
        assert raised.value.code == "corrupt"

    def test_zip_without_word_parts(self):
        data = samples.xlsx_file({"Sheet": [["a"]]})
        with pytest.raises(AttachmentError) as raised:
            read_document(data, "docx")
        assert raised.value.code == "corrupt"

    def test_encrypted_office_file(self):
        # Office saves a password-protected file as an OLE container, not a zip.
        with pytest.raises(AttachmentError) as raised:
            read_document(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "docx")
        assert raised.value.code == "encrypted"

    def test_empty_document(self):
        import io

        import docx

        buffer = io.BytesIO()
        docx.Document().save(buffer)
        with pytest.raises(AttachmentError) as raised:
            read_document(buffer.getvalue(), "docx")
        assert raised.value.code == "empty"


class TestXlsx:
    def test_two_sheets(self):
        data = samples.xlsx_file(
            {
                "Sales": [["Region", "Total"], ["North", 1200], ["South", 950.5]],
                "Costs": [["Item", "Amount"], ["Rent", 400], [None, None], ["Power", 75]],
            }
        )
        document = read_document(data, "xlsx")
        assert document.pages == 2
        by_sheet = {p.location: p.text for p in document.passages}
        assert by_sheet == {
            "sheet Sales": "Region\tTotal\nNorth\t1200\nSouth\t950.5",
            "sheet Costs": "Item\tAmount\nRent\t400\nPower\t75",
        }

    def test_long_sheet_repeats_its_header(self):
        rows = [["Invoice", "Customer", "Amount"]]
        rows += [[f"INV-{n:05d}", f"Customer number {n}", n * 3] for n in range(600)]
        document = read_document(samples.xlsx_file({"Invoices": rows}), "xlsx")
        assert len(document.passages) > 3
        for passage in document.passages:
            assert passage.location == "sheet Invoices"
            assert passage.text.startswith("Invoice\tCustomer\tAmount\n")
            assert tokens(passage.text) <= PASSAGE_TOKENS + SLACK
        text = "\n".join(p.text for p in document.passages)
        assert all(f"INV-{n:05d}\t" in text for n in range(600))

    def test_far_corners(self):
        # The file declares the dimension A1:XFD1048576; rows are not padded to its width.
        import io

        import openpyxl

        workbook = openpyxl.Workbook()
        workbook.active["A1"] = "top"
        workbook.active["XFD1048576"] = "bottom"
        buffer = io.BytesIO()
        workbook.save(buffer)
        document = read_document(buffer.getvalue(), "xlsx")
        text = "\n".join(p.text for p in document.passages)
        assert text.startswith("top") and text.endswith("bottom")

    def test_corrupt(self):
        data = samples.xlsx_file({"Sheet": [["a", "b"]]})
        with pytest.raises(AttachmentError) as raised:
            read_document(data[: len(data) // 2], "xlsx")
        assert raised.value.code == "corrupt"

    def test_empty_workbook(self):
        with pytest.raises(AttachmentError) as raised:
            read_document(samples.xlsx_file({"Empty": []}), "xlsx")
        assert raised.value.code == "empty"


class TestText:
    def test_csv(self):
        data = b'name,city\nAda,London\n"Lovelace, A","Paris"\n'
        document = read_document(data, "csv")
        assert [p.text for p in document.passages] == [
            "name\tcity\nAda\tLondon\nLovelace, A\tParis"
        ]

    def test_csv_semicolons(self):
        document = read_document(b"a;b\n1;2\n", "csv")
        assert document.passages[0].text == "a\tb\n1\t2"

    @pytest.mark.parametrize("kind", ["txt", "md"])
    def test_utf8_with_bom(self, kind):
        document = read_document("\ufeff# Notes\n\nCafé au lait.\r\n".encode(), kind)
        assert document.passages[0].text == "# Notes\n\nCafé au lait."

    @pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
    def test_chinese(self, encoding):
        text = "第一章 总则\n\n本办法适用于所有员工的差旅报销。"
        document = read_document(text.encode(encoding), "txt")
        assert document.passages[0].text == text

    def test_long_text_cut_at_paragraphs(self):
        paragraphs = [f"Paragraph {n}: " + "word " * 60 for n in range(40)]
        document = read_document("\n\n".join(paragraphs).encode(), "md")
        assert len(document.passages) > 1
        for passage in document.passages:
            assert tokens(passage.text) <= PASSAGE_TOKENS + SLACK
            # Never cut inside a paragraph: each starts at one.
            assert passage.text.startswith("Paragraph ")
        assert "\n\n".join(p.text for p in document.passages) == "\n\n".join(
            p.strip() for p in paragraphs
        )

    def test_many_short_lines_kept_whole(self):
        text = "\n".join(f"row {n}" for n in range(3000))
        passages = split_passages(text, "")
        assert 10 < len(passages) < 100
        assert "\n".join(p.text for p in passages) == text
        assert max(tokens(p.text) for p in passages) <= PASSAGE_TOKENS + SLACK

    def test_long_paragraph_cut_at_sentences(self):
        english = " ".join(f"Sentence number {n} says something plain." for n in range(200))
        chinese = "".join(f"第{n}句话说了一件普通的事。" for n in range(300))
        for text in (english, chinese):
            passages = split_passages(text, "")
            assert len(passages) > 1
            assert max(tokens(p.text) for p in passages) <= PASSAGE_TOKENS + SLACK
            # Each passage starts at a sentence and nothing is lost or added.
            assert all(p.text.startswith(("Sentence", "第")) for p in passages)
            glue = " " if text is english else ""
            assert glue.join(p.text for p in passages) == text

    def test_long_line_without_breaks(self):
        text = "长" * 5000
        passages = split_passages(text, "")
        assert len(passages) > 1
        assert "".join(p.text for p in passages) == text
        assert max(tokens(p.text) for p in passages) <= PASSAGE_TOKENS + SLACK

    @pytest.mark.parametrize("data", [b"", b"   \n\n\t ", "\ufeff".encode()])
    def test_empty(self, data):
        with pytest.raises(AttachmentError) as raised:
            read_document(data, "txt")
        assert raised.value.code == "empty"

    def test_lone_surrogates_replaced(self):
        from services.attachments.documents import _clean

        assert _clean("a\ud800b") == "a?b"

    def test_control_characters_dropped(self):
        document = read_document(b"a\x00b\x1bc\x07d", "txt")
        assert document.passages[0].text == "abcd"


def test_unknown_kind():
    with pytest.raises(AttachmentError) as raised:
        read_document(b"data", "exe")
    assert raised.value.code == "unsupported"


def test_error_statuses():
    assert AttachmentError("too_large").status == 413
    assert AttachmentError("corrupt").status == 400
    error = AttachmentError("too_many", limit=5)
    assert (error.code, error.params, error.status) == ("too_many", {"limit": 5}, 400)
    assert AttachmentError("missing", status=404).status == 404
