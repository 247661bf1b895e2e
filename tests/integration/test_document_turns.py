"""Documents as context in a page turn: a 200-page PDF with one sentence on page 150 sends
that page's passage (marked with its page), not the whole document; a small one goes whole;
a follow-up question in the same conversation searches the documents again. On SQLite, and
on PostgreSQL (its own full-text search)."""

from __future__ import annotations

import io

from tests.fake_upstream import Reply
from tests.integration.test_attachments import upload
from tests.integration.test_page_turn import page_body, parse_sse

SENTENCE = "The harbour master keeps the spare lighthouse key under the blue anchor."
PAGES = 200


def long_pdf(pages: int = PAGES, at: int = 150) -> bytes:
    """A text PDF: each page a few hundred words of its own, `SENTENCE` on page `at`."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for page in range(1, pages + 1):
        lines = [f"Survey page {page}: notes on field {page} and crop {page}."]
        lines += [f"Row {row} of field {page}: wheat barley oats rye millet." for row in range(40)]
        if page == at:
            lines.insert(10, SENTENCE)
        for i, line in enumerate(lines):
            pdf.drawString(40, 800 - 18 * i, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def ask(client, question: str, ids=(), history=(), conversation_id=None) -> dict:
    body = page_body(question, history, turn_attachments=list(ids))
    body["conversation_id"] = conversation_id
    response = client.post("/api/chat/stream", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    final = parse_sse(response.get_data(as_text=True))[-1]
    assert final.get("done"), final
    return final


def question_text(request) -> str:
    content = request.body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def check_long_document_turn(app, fake):
    client = app.server.test_client()
    info = upload(client, long_pdf(), "survey.pdf")
    assert info.status_code == 201, info.get_data(as_text=True)
    info = info.json
    assert info["pages"] == PAGES
    fake.script(Reply("Under the blue anchor."), Reply("Page 150."))

    final = ask(client, "Where is the spare lighthouse key kept?", [info["id"]])
    sent = question_text(fake.requests[0])
    assert SENTENCE in sent and 'location="page 150"' in sent
    assert sent.endswith("Where is the spare lighthouse key kept?")
    assert "Survey page 3:" not in sent  # passages, not the whole document
    assert 'document="survey.pdf"' in sent

    # A follow-up in the same conversation, no attachment of its own: searched again.
    history = [
        {"role": "user", "content": "Where is the spare lighthouse key kept?",
         "attachments": final["turn"]["attachments"]},
        {"role": "assistant", "content": "Under the blue anchor.", "status": "done"},
    ]  # fmt: skip
    ask(client, "Which page says where the lighthouse key is?", history=history,
        conversation_id=final["turn"]["conversation_id"])  # fmt: skip
    follow_up = question_text(fake.requests[1])
    assert SENTENCE in follow_up and follow_up.endswith(
        "Which page says where the lighthouse key is?"
    )
    # Only the current question carries documents.
    assert (
        fake.requests[1].body["messages"][-3]["content"]
        == "Where is the spare lighthouse key kept?"
    )


def test_a_long_pdf_sends_the_matching_passage(make_app, fake, tmp_path):
    app = make_app(
        database_url=f"sqlite:///{tmp_path}/chat.db", attachment_dir=str(tmp_path / "files")
    )
    check_long_document_turn(app, fake)


def test_a_small_document_goes_whole(make_app, fake, tmp_path):
    app = make_app(records_enabled=False, attachment_dir=str(tmp_path / "files"))
    client = app.server.test_client()
    notes = "第一课：光合作用。\nPlants turn light into sugar.".encode()
    info = upload(client, notes, "lesson.txt").json
    fake.script(Reply("Photosynthesis."))
    ask(client, "这一课讲什么？", [info["id"]])
    sent = question_text(fake.requests[0])
    assert '<document name="lesson.txt">' in sent and "Plants turn light into sugar." in sent
    assert sent.endswith("这一课讲什么？")


def test_a_long_pdf_on_postgresql(make_app, fake, tmp_path, postgres_records, postgres_url):
    app = make_app(database_url=postgres_url, attachment_dir=str(tmp_path / "files"))
    check_long_document_turn(app, fake)
