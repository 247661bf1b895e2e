"""Attachments' kinds (told by bytes), safe names, and images prepared for the model."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from config import Settings
from services.attachments.images import THUMBNAIL_SIDE, data_url, prepare_image
from services.attachments.kinds import (
    AttachmentError,
    accept_attribute,
    allowed_kinds,
    safe_name,
    sniff,
)
from services.tokens import image_size_for_model, image_tokens
from tests.attachment_files import (
    GPS_IFD,
    SVG,
    animated_gif,
    bomb_png,
    exe_bytes,
    image_bytes,
    office_zip,
    photo_with_gps,
    real_bomb_png,
)


def code_of(call) -> str:
    with pytest.raises(AttachmentError) as caught:
        call()
    return caught.value.code


# ---- kinds, by bytes


@pytest.mark.parametrize(
    ("fmt", "name", "mime"),
    [
        ("PNG", "a.png", "image/png"),
        ("JPEG", "a.jpg", "image/jpeg"),
        ("WEBP", "a.webp", "image/webp"),
        ("GIF", "a.gif", "image/gif"),
        ("JPEG", "photo.png", "image/jpeg"),  # an image named as another image format is fine
        ("PNG", "screenshot", "image/png"),  # no extension: the bytes say
    ],
)
def test_images_are_told_by_their_bytes(fmt, name, mime):
    found = sniff(image_bytes(fmt), name)
    assert (found.kind, found.mime, found.family) == ("image", mime, "image")


def test_an_exe_renamed_png_is_a_mismatch():
    assert code_of(lambda: sniff(exe_bytes(), "holiday.png")) == "mismatch"
    assert code_of(lambda: sniff(exe_bytes(), "notes.txt")) == "mismatch"
    assert code_of(lambda: sniff(exe_bytes(), "setup.exe")) == "unsupported"


def test_svg_is_refused_by_name_and_by_content():
    assert code_of(lambda: sniff(SVG, "logo.svg")) == "svg"
    assert code_of(lambda: sniff(SVG, "logo.png")) == "svg"
    assert code_of(lambda: sniff(SVG, "logo.txt")) == "svg"
    assert code_of(lambda: sniff(b"<svg onload='x()'/>", "a")) == "svg"


def test_documents_are_told_by_their_bytes():
    assert sniff(b"%PDF-1.7\n%...", "report.pdf").kind == "pdf"
    assert sniff(office_zip("word/document.xml"), "letter.docx").kind == "docx"
    assert sniff(office_zip("xl/workbook.xml"), "sales.xlsx").kind == "xlsx"
    assert code_of(lambda: sniff(office_zip("word/document.xml"), "sales.xlsx")) == "mismatch"
    assert code_of(lambda: sniff(office_zip("other.txt"), "a.zip")) == "unsupported"
    assert code_of(lambda: sniff(b"%PDF-1.7", "photo.jpg")) == "mismatch"


def test_text_kinds_come_from_the_name():
    assert sniff("# 标题\n".encode(), "readme.md").mime == "text/markdown"
    assert sniff(b"a,b\n1,2\n", "t.csv").kind == "csv"
    assert sniff("中文".encode("gb18030"), "notes.txt").kind == "txt"
    assert sniff(b"print(1)\n", "script.py").kind == "txt"
    # A web page is text to us: stored and served as text/plain, never as HTML.
    page = sniff(b"<html><script>alert(1)</script></html>", "page.html")
    assert (page.kind, page.mime) == ("txt", "text/plain")
    assert code_of(lambda: sniff(b"just text", "photo.png")) == "mismatch"
    assert code_of(lambda: sniff(b"a\x00b", "a.txt")) == "mismatch"
    assert code_of(lambda: sniff(b"", "a.txt")) == "empty"


def test_allowed_kinds_come_from_the_settings():
    settings = Settings(_env_file=None, attachment_types="image, PDF ,nonsense")
    assert allowed_kinds(settings) == {"image", "pdf"}
    accept = accept_attribute(allowed_kinds(settings)).split(",")
    assert "image/png" in accept and ".pdf" in accept and ".docx" not in accept


def test_errors_carry_code_status_and_plain_words():
    error = AttachmentError("too_large", limit_mb=20)
    assert (error.status, error.message) == (413, "The file is larger than 20 MB.")
    assert AttachmentError("svg").status == 400


# ---- safe names


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("C:\\Users\\amy\\photo.png", "photo.png"),
        ("..", "file"),
        ("", "file"),
        ("   ", "file"),
        ("line\nbreak\r.png", "linebreak.png"),
        ("photo\u202egnp.exe", "photognp.exe"),  # no right-to-left override
        ("<script>alert(1)<\\script>.png", "script>.png"),
        ("<b>bold</b>.png", "b>.png"),
        ("<img onerror=x>.png", "<img onerror=x>.png"),  # kept as text: never shown as HTML
        ("报告.pdf", "报告.pdf"),
    ],
)
def test_safe_names(given, kept):
    assert safe_name(given) == kept


def test_a_long_name_keeps_its_extension():
    name = safe_name("x" * 300 + ".pdf")
    assert len(name) == 255 and name.endswith(".pdf")
    assert len(safe_name("y" * 300)) == 255


# ---- images


def model_image(prepared) -> Image.Image:
    return Image.open(io.BytesIO(prepared.data))


def test_exif_and_gps_are_dropped_and_the_photo_is_turned_upright():
    upload = photo_with_gps(orientation=6, size=(400, 200))
    assert Image.open(io.BytesIO(upload)).getexif().get_ifd(GPS_IFD)  # the upload has GPS
    prepared = prepare_image(upload)
    image = model_image(prepared)
    assert (prepared.mime, image.format) == ("image/jpeg", "JPEG")
    assert not image.getexif() and "exif" not in image.info
    assert b"PhoneMaker" not in prepared.data and b"Exif" not in prepared.data
    # Orientation 6 means "turn 90° clockwise to show": the left (red) half is now on top.
    assert image.size == (200, 400) == (prepared.width, prepared.height)
    top, bottom = image.getpixel((100, 50)), image.getpixel((100, 350))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert not Image.open(io.BytesIO(prepared.thumbnail)).getexif()


def test_a_large_sideways_photo_is_turned_then_sized_for_the_model():
    # A JPEG is decoded at a reduced scale first (draft): the size still comes from the full one.
    prepared = prepare_image(photo_with_gps(orientation=6, size=(4000, 3000)))
    assert (prepared.width, prepared.height) == (768, 1024) == model_image(prepared).size
    assert prepared.tokens == image_tokens(768, 1024)
    top = model_image(prepared).getpixel((384, 100))
    assert top[0] > 200 and top[2] < 60, top  # the left (red) half is on top


def test_comments_and_colour_profiles_are_dropped():
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "secret-location")
    upload = image_bytes("PNG", icc_profile=b"fake-profile" * 10, pnginfo=text)
    prepared = prepare_image(upload)
    assert b"secret-location" not in prepared.data and b"fake-profile" not in prepared.data
    assert "icc_profile" not in model_image(prepared).info


@pytest.mark.parametrize("size", [(4000, 3000), (1000, 5000), (3000, 600), (300, 200)])
def test_resized_as_the_model_would(size):
    prepared = prepare_image(image_bytes("JPEG", size))
    expected = image_size_for_model(*size)
    assert (prepared.width, prepared.height) == expected == model_image(prepared).size
    assert prepared.tokens == image_tokens(*expected, "auto")
    thumb = Image.open(io.BytesIO(prepared.thumbnail))
    assert thumb.format == "WEBP" and max(thumb.size) == min(THUMBNAIL_SIDE, max(expected))


def test_transparency_is_kept_as_png():
    prepared = prepare_image(image_bytes("PNG", mode="RGBA", color=(0, 0, 255, 0)))
    assert prepared.mime == "image/png" and model_image(prepared).mode == "RGBA"


@pytest.mark.parametrize("fmt", ["WEBP", "GIF", "PNG"])
def test_other_formats_become_jpeg(fmt):
    prepared = prepare_image(image_bytes(fmt, (50, 40), "green"))
    assert prepared.mime == "image/jpeg" and model_image(prepared).size == (50, 40)


def test_an_animated_gif_sends_its_first_frame():
    image = model_image(prepare_image(animated_gif())).convert("RGB")
    red = image.getpixel((20, 15))
    assert red[0] > 200 and red[2] < 60


@pytest.mark.parametrize("make", [bomb_png, real_bomb_png])
def test_decompression_bombs_are_refused(make):
    assert len(make()) < 100_000
    assert code_of(lambda: prepare_image(make())) == "too_many_pixels"


def test_damaged_images_are_refused():
    whole = image_bytes("PNG", (200, 200))
    assert code_of(lambda: prepare_image(whole[: len(whole) // 2])) == "corrupt"
    assert code_of(lambda: prepare_image(b"\x89PNG\r\n\x1a\nnot really")) == "corrupt"


def test_data_url():
    assert data_url(b"\x01\x02", "image/png") == "data:image/png;base64,AQI="
