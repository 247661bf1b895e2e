"""A real photo uploads whole: multipart parsing holds a file's bytes while it looks for the
next boundary, and a JPEG's bytes can run far without a line break (api/attachments.py)."""

from __future__ import annotations

import io

from PIL import Image

from tests.integration.test_attachments import app, folder, upload  # noqa: F401


def test_a_photo_of_a_few_megabytes_is_stored(app):  # noqa: F811
    grain = Image.effect_noise((1600, 1200), 40).convert("RGB")
    out = io.BytesIO()
    grain.save(out, "JPEG", quality=95)
    data = out.getvalue()
    assert len(data) > 1_000_000

    answer = upload(app.server.test_client(), data, "photo.jpg")

    assert answer.status_code == 201, answer.json
    assert answer.json["size"] == len(data)
