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
