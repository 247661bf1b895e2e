"""Images for a vision model: checked, turned upright, stripped of metadata, resized.

What the model gets is re-encoded from the pixels alone: the EXIF block (GPS position, camera,
time), XMP, comments and colour profiles of the upload never leave the server. It is scaled
the way OpenAI scales a high-detail image (fit 2048 x 2048, shortest side 768:
services/tokens.image_size_for_model), so nothing is sent that the model would throw away, and
its token cost is known offline.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from services.attachments.kinds import AttachmentError
from services.tokens import image_size_for_model, image_tokens

# A decompression bomb is a small file that decodes to gigabytes (a 50,000 x 50,000 PNG of
# one colour is a few kilobytes). 50 megapixels is more than any phone camera takes.
MAX_PIXELS = 50_000_000
# Pillow warns above this and refuses above twice it; both are refusals here.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Set once (the warnings filters are process-wide, not per thread); the size is also checked
# by hand below, so a test runner that resets the filters changes nothing.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
THUMBNAIL_SIDE = 256
JPEG_QUALITY = 85
THUMBNAIL_QUALITY = 80


@dataclass(frozen=True)
class PreparedImage:
    """An image as the model gets it (`data`, `mime`, its size and token cost), and a small
    WebP `thumbnail` for the thread."""

    data: bytes
    mime: str
    width: int
    height: int
    thumbnail: bytes
    tokens: int


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )


def _open(data: bytes) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded first frame, upright, and the size the model gets it in (from the image's
    full size: a JPEG may be decoded smaller). Raises AttachmentError."""
    too_many = AttachmentError("too_many_pixels", limit=MAX_PIXELS // 1_000_000)
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
            # The header alone says how large it would decode to: check before decoding.
            if probe.width * probe.height > MAX_PIXELS:
                raise too_many
            probe.verify()
        # verify() leaves the image unusable: open it again to decode it.
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        image.seek(0)  # an animated GIF or WebP: its first frame
        full = image.size
        if image.format == "JPEG":
            # JPEG decodes at 1/2, 1/4 or 1/8 scale almost for free: the smallest that is
            # still at least as large as what the model gets (a phone photo: 3x faster).
            image.draft(None, image_size_for_model(*full))
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise AttachmentError("corrupt") from None
    try:
        upright = ImageOps.exif_transpose(image)  # a copy, turned the way the camera was held
    except (OSError, SyntaxError, ValueError, TypeError):
        upright = image  # an unreadable orientation tag: show it as stored
    if upright.size != image.size:  # turned a quarter
        full = full[::-1]
    return upright, image_size_for_model(*full)


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    # Saved from a bare copy whose `info` is empty, so no EXIF, XMP, ICC profile or comment of
    # the upload can be written back by the encoder.
    image.info = {}
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def prepare_image(data: bytes) -> PreparedImage:
    """The image for the model and its thumbnail. Raises AttachmentError ("too_many_pixels",
    "corrupt")."""
    image, size = _open(data)
    alpha = _has_alpha(image)
    image = image.convert("RGBA" if alpha else "RGB")
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    if alpha:
        model, mime = _encode(image.copy(), "PNG", optimize=True), "image/png"
    else:
        model = _encode(image.copy(), "JPEG", quality=JPEG_QUALITY, optimize=True)
        mime = "image/jpeg"
    thumb = image.copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    thumbnail = _encode(thumb, "WEBP", quality=THUMBNAIL_QUALITY)
    width, height = image.size
    return PreparedImage(
        data=model,
        mime=mime,
        width=width,
        height=height,
        thumbnail=thumbnail,
        tokens=image_tokens(width, height, "auto"),
    )


def data_url(data: bytes, mime: str) -> str:
    """`data:<mime>;base64,...`: how an image goes to the model inside the request."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
