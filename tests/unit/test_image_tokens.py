"""The image token formula against the examples of OpenAI's vision guide."""

import pytest

from services.tokens import image_size_for_model, image_tokens


@pytest.mark.parametrize(
    ("size", "detail", "tokens"),
    [
        ((1024, 1024), "high", 765),  # scaled to 768 x 768: 4 tiles
        ((2048, 4096), "high", 1105),  # 1024 x 2048, then 768 x 1536: 6 tiles
        ((4096, 8192), "low", 85),
        ((300, 200), "auto", 255),  # small images are not scaled up: one tile
    ],
)
def test_openai_examples(size, detail, tokens):
    assert image_tokens(*size, detail) == tokens


def test_sizes_are_never_scaled_up():
    assert image_size_for_model(640, 480) == (640, 480)
    assert image_size_for_model(4000, 3000) == (1024, 768)


def _data_url(size, fmt="PNG") -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, fmt)
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
    return f"data:{mime[fmt]};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def _image(url, detail=None):
    part = {"type": "image_url", "image_url": {"url": url}}
    if detail:
        part["image_url"]["detail"] = detail
    return part


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_list_content_counts_text_and_images(fmt):
    from services.tokens import count_messages, token_ceiling

    text = [{"role": "user", "content": "What is in this picture?"}]
    parts = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                _image(_data_url((1024, 1024), fmt)),
                _image(_data_url((300, 200), fmt), "low"),
            ],
        }
    ]
    assert count_messages(parts, "gpt-4o") == count_messages(text, "gpt-4o") + 765 + 85
    assert token_ceiling(parts) >= count_messages(parts, "gpt-4o")


def test_an_image_this_server_cannot_see_counts_as_the_most():
    from services.tokens import IMAGE_MAX_TOKENS, image_part_tokens

    assert IMAGE_MAX_TOKENS == image_tokens(768, 2048, "high") == 1445
    assert image_part_tokens(_image("https://example.com/cat.png")) == IMAGE_MAX_TOKENS
    assert image_part_tokens(_image("data:image/png;base64,bm90IGFuIGltYWdl")) == IMAGE_MAX_TOKENS
    assert image_part_tokens({"type": "image_url"}) == IMAGE_MAX_TOKENS
    assert image_part_tokens(_image("https://example.com/cat.png", "low")) == 85
