"""Files for the attachment tests, made in memory: images (with EXIF and GPS, rotated,
animated, transparent), a decompression bomb, an .exe, an SVG, an Office zip."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from datetime import timedelta

from PIL import Image
from sqlalchemy import update

from services.records.models import Attachment, utcnow

# EXIF tags: the orientation, and the GPS block's pointer (IFD 0x8825).
ORIENTATION = 0x0112
GPS_IFD = 0x8825


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (64, 48), color="red", mode: str = "RGB", **save
) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


def halves(size: tuple[int, int] = (400, 200)) -> Image.Image:
    """Left half red, right half blue: shows which way an image was turned."""
    width, height = size
    image = Image.new("RGB", size, "blue")
    image.paste(Image.new("RGB", (width // 2, height), "red"), (0, 0))
    return image


def photo_with_gps(orientation: int = 6, size: tuple[int, int] = (400, 200)) -> bytes:
    """A JPEG as a phone takes it: held sideways (EXIF orientation 6: turn 90° clockwise to
    show) and carrying where it was taken."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.0)  # Paris
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.0)
    buffer = io.BytesIO()
    halves(size).save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), color) for color in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header says `width` x `height` (10 gigapixels) in under 100 bytes."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def real_bomb_png() -> bytes:
    """A real 8000 x 8000 PNG (64 megapixels, over the 50 MP limit) that is a few KB."""
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000), 0).save(buffer, "PNG")
    return buffer.getvalue()


def exe_bytes() -> bytes:
    """The start of a Windows program (MZ header, PE offset), as an .exe has."""
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(document.cookie)</script></svg>"
)


def office_zip(part: str) -> bytes:
    """A zip holding `part` (word/document.xml: a .docx; xl/workbook.xml: an .xlsx)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(part, "<x/>")
    return buffer.getvalue()


def age_attachment(store, attachment_id: str, by: timedelta) -> None:
    """Make an attachment `by` older (uploaded that long ago)."""
    with store.engine.begin() as connection:
        connection.execute(
            update(Attachment)
            .where(Attachment.id == attachment_id)
            .values(created_at=utcnow() - by)
        )
