"""Draw the app's install icons into assets/icons/ (run once; the PNGs are committed).

    python tools/make_icons.py

A white speech bubble on the brand green (#10a37f). `icon-*.png` have rounded corners (the
"any" purpose); `maskable-512.png` fills its square and keeps the bubble inside the central
80 % circle a launcher may crop to. Drawn at 4x and scaled down for smooth edges, then reduced
to a small palette, so each file is a few kilobytes.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BRAND = (16, 163, 127, 255)
WHITE = (255, 255, 255, 255)
OUT = Path(__file__).resolve().parents[1] / "assets" / "icons"
SCALE = 4


def _bubble(draw: ImageDraw.ImageDraw, size: int, extent: float) -> None:
    """A rounded speech bubble with a tail, centred, `extent` of `size` wide, and three dots."""
    width = size * extent
    height = width * 0.72
    left = (size - width) / 2
    top = (size - height) / 2 - width * 0.06
    radius = height * 0.32
    draw.rounded_rectangle((left, top, left + width, top + height), radius=radius, fill=WHITE)
    # The tail, bottom left.
    tail_x = left + width * 0.22
    bottom = top + height
    draw.polygon(
        [
            (tail_x, bottom - radius * 0.5),
            (tail_x + width * 0.2, bottom - 1),
            (tail_x - width * 0.04, bottom + width * 0.16),
        ],
        fill=WHITE,
    )
    dot = width * 0.11
    middle = top + height / 2
    for i in (-1, 0, 1):
        cx = size / 2 + i * width * 0.24
        draw.ellipse((cx - dot / 2, middle - dot / 2, cx + dot / 2, middle + dot / 2), fill=BRAND)


def icon(size: int, *, maskable: bool) -> Image.Image:
    """One icon of `size` pixels square."""
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        draw.rectangle((0, 0, big, big), fill=BRAND)
        _bubble(draw, big, extent=0.5)  # inside the 80 % safe circle
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.22, fill=BRAND)
        _bubble(draw, big, extent=0.62)
    small = image.resize((size, size), Image.LANCZOS)
    return small.quantize(colors=32, method=Image.Quantize.FASTOCTREE)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    files = {
        "icon-192.png": icon(192, maskable=False),
        "icon-512.png": icon(512, maskable=False),
        "maskable-512.png": icon(512, maskable=True),
        # iOS draws its own rounded corners and shows transparency as black: fill the square.
        "apple-touch-icon.png": icon(180, maskable=True),
    }
    for name, image in files.items():
        image.save(OUT / name, optimize=True)
        print(f"{name}: {(OUT / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
