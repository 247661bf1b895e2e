"""components.attachments: what the composer's script is told (page.attach), and a question's
attachments as the thread draws them (thumbnails, document chips; names as text only)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import plotly.io.json as plotly_json
from dash import html

from components import ids
from components.attachments import AttachOptions, attach_config, human_size
from components.composer import composer
from components.layout import page
from components.thread import render_thread
from components.turn import finished_turn
from i18n import t
from tests.unit.test_layout_antd import options as layout_options
from tests.unit.test_layout_antd import walk as walk_all
from tests.unit.test_thread import classes, messages, reply, walk

PHOTO = {"id": "a" * 32, "name": "worksheet.jpg", "kind": "image", "mime": "image/jpeg"}
REPORT = {
    "id": "b" * 32,
    "name": '<img src=x onerror="alert(1)">report.pdf',
    "kind": "document",
    "mime": "application/pdf",
    "size": 2_516_582,
}


def settings(**values) -> SimpleNamespace:
    base = {"max_attachments": 5, "max_attachment_mb": 20, "attachment_types": "image,pdf,md"}
    return SimpleNamespace(**{**base, **values})


def test_the_limits_come_from_the_settings_and_zero_turns_attachments_off() -> None:
    options = AttachOptions.from_settings(settings(attachment_types=" PDF, image ,bogus"))
    assert options == AttachOptions(max_count=5, max_bytes=20 * 1024 * 1024, kinds=("image", "pdf"))
    assert options.accept().split(",") == [
        ".png",
        ".jpg",
        ".jpeg",
        ".webp",
        ".gif",
        ".pdf",
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/gif",
    ]
    assert AttachOptions.from_settings(settings(max_attachments=0)) is None


def test_the_page_is_told_the_limits_and_the_words_in_its_language() -> None:
    options = AttachOptions.from_settings(settings())
    config = attach_config(options, lang="zh-cn", records=False)
    assert config["maxCount"] == 5 and config["maxBytes"] == 20 * 1024 * 1024
    assert config["kinds"] == ["image", "pdf", "md"]
    assert config["extensions"][".jpeg"] == "image" and config["extensions"][".markdown"] == "md"
    assert config["words"]["tooMany"] == t("zh-cn", "attach.refused.too_many")
    assert "PDF" in config["typeNames"] and "Word" not in config["typeNames"]
    assert config["recordsOff"] is True
    assert attach_config(options, lang="en", records=True)["recordsOff"] is False


def composer_ids(node) -> set[str]:
    return {c.id for c in walk(node) if isinstance(getattr(c, "id", None), str)}


def test_the_composer_has_the_attach_button_only_when_attachments_are_on() -> None:
    options = AttachOptions.from_settings(settings())
    on = composer(lang="en", max_chars=100, attachments=options, records=False)
    assert {ids.ATTACH_BUTTON, ids.ATTACHMENTS, ids.ATTACH_PROBLEM, ids.DROP_OVERLAY} <= (
        composer_ids(on)
    )
    (button,) = [c for c in walk(on) if getattr(c, "id", None) == ids.ATTACH_BUTTON]
    assert getattr(button, "aria-label") == "Attach files"
    # Records off: the note that attachments last only until a reload.
    (note,) = [c for c in walk(on) if getattr(c, "id", None) == ids.ATTACH_NOTE]
    assert note.children == t("en", "attach.records_off")
    assert ids.ATTACH_NOTE not in composer_ids(
        composer(lang="en", max_chars=100, attachments=options, records=True)
    )
    off = composer(lang="en", max_chars=100)
    assert not composer_ids(off) & {ids.ATTACH_BUTTON, ids.ATTACHMENTS, ids.DROP_OVERLAY}


def test_a_question_shows_its_images_and_documents_with_names_as_text() -> None:
    question = {"role": "user", "content": "What does this say?", "attachments": [PHOTO, REPORT]}
    children = render_thread([question, reply("It says…")], lang="en", streaming=False)
    asked = messages(children)[0]
    (row,) = [c for c in walk(asked) if "chat-attachments" in classes(c)]
    image, document = row.children

    assert image.href == f"/api/attachments/{'a' * 32}"
    (img,) = [c for c in walk(image) if isinstance(c, html.Img)]
    assert img.src == f"/api/attachments/{'a' * 32}/thumbnail"
    assert img.alt == "worksheet.jpg"

    assert document.href == f"/api/attachments/{'b' * 32}"
    assert document.download == REPORT["name"]
    texts = [c.children for c in walk(document) if isinstance(c.children, str)]
    assert texts == [REPORT["name"], "2.4 MB"]
    # Text props only: the name never becomes markup.
    dumped = plotly_json.to_json_plotly(row)
    assert "dangerouslySetInnerHTML" not in dumped and "Markdown" not in dumped
    # Above the words, not inside the bubble.
    (bubble,) = [c for c in walk(asked) if "chat-bubble" in classes(c)]
    assert row not in list(walk(bubble))


def test_refs_that_do_not_parse_are_left_out() -> None:
    bad = [{"id": "../../etc/passwd", "name": "x"}, "nope", {"id": "c" * 32, "kind": "video"}]
    question = {"role": "user", "content": "q", "attachments": bad}
    children = render_thread([question, reply("a")], lang="en", streaming=False)
    assert not [c for c in walk(children) if "chat-attachments" in classes(c)]
    question["attachments"] = "not a list"
    render_thread([question, reply("a")], lang="en", streaming=False)


def test_sizes_read_as_people_say_them() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 35_000, 2_516_582)] == [
        "0 B",
        "1023 B",
        "1 KB",
        "34 KB",
        "2.4 MB",
    ]


def test_the_page_config_carries_attach_only_when_on() -> None:
    def config(attachments) -> dict:
        tree = page(layout_options(attachments=attachments), lang="en")
        (store,) = [c for c in walk_all(tree) if getattr(c, "id", None) == ids.PAGE_CONFIG]
        return store.data

    assert config(None)["attach"] is None
    assert config(AttachOptions.from_settings(settings()))["attach"]["maxCount"] == 5


def test_a_finished_turn_draws_its_questions_attachments() -> None:
    def images(view: dict) -> list[str]:
        dumped = json.dumps(json.loads(plotly_json.to_json_plotly(view)))
        return re.findall(r'"src":\s*"([^"]+)"', dumped)

    thumb = f"/api/attachments/{'a' * 32}/thumbnail"
    first = finished_turn(
        [reply("a")],
        question="q",
        question_index=0,
        retry=False,
        start=0,
        lang="en",
        persona=None,
        attachments=[PHOTO],
    )
    assert first["replace"] and images(first) == [thumb]
    later = finished_turn(
        [reply("a")],
        question="q",
        question_index=2,
        retry=False,
        start=0,
        lang="en",
        persona=None,
        attachments=[PHOTO],
    )
    assert not later["replace"] and images(later) == [thumb]
    plain = finished_turn(
        [reply("a")], question="q", question_index=2, retry=False, start=0, lang="en", persona=None
    )
    assert images(plain) == []
