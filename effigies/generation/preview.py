"""What a person sees of a candidate before buying it: the real 256 px picture, lightly marked.

The clean 64x64 image stays private to the server (it becomes the avatar when sold). The preview
is the avatar's master, the very picture every public size will be drawn from
(effigies.generation.master: the theme's upscaler or Lanczos, nearest x4 for pixel art), so what
one judges here is what one gets, then marked (PREVIEW_MARK) and saved as WebP. Written by the
worker beside the clean file, once, so serving a preview costs the API nothing but a file read.
A transparent (RGBA) candidate is shown over a checkerboard (see CHECKER).

Design boards keep the denser "EFFIGIES" text pattern (board_tile): a sheet of small samples is
inspiration, not a choice between four pictures.
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from effigies.generation.master import MASTER_SIZE, make_master
from effigies.uniqueness.fingerprint import has_alpha

PREVIEW_SIZE = MASTER_SIZE  # 256 px: the default public size, whole 4x4 blocks for pixel art
_TEXT = "EFFIGIES"
# DejaVu Sans (free licence, beside it), shipped because Pillow's built-in font has no accents
# or dashes, and a server may have no fonts at all.
FONT = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"
# Transparency as the light checkerboard of image editors: any flat colour would read as the
# avatar's own background, and a buyer must see there is none (the avatar will sit on whatever
# page or game hotlinks it). Two light greys, not white and black, so dark and mid-tone avatars
# stay readable and the watermark keeps its look. Squares of size / 16 px on a preview (16 at
# 256), size / 12 on a board's tiles.
CHECKER = ((242, 242, 242), (204, 204, 204))

# The preview's mark, chosen to let a person judge the picture and to spoil it as an avatar:
# - parallel diagonal hairlines every quarter of the picture (64 px at 256), a white 1.5 px core
#   at 40% opacity between dark 1 px edges at 20%, so they show on light and dark avatars. Any
#   64 px square of the picture is crossed by one, so no crop (a circle, a corner) escapes it,
#   and one falls across any face; they stay visible where avatars are shown (profile pages,
#   80-460 px), only fading in 40 px chat lists.
# - the lines are placed off-centre (the middle sits between two) and nothing else covers the
#   picture, so the face and its details stay clear between them; a small "EFFIGIES" in the
#   bottom-right corner names where it comes from.
# Measured on shipped themes against the previous dense text pattern: ~7.5% of pixels changed by
# more than 12 levels (was ~9.6%), mean change ~2.6 levels (was ~2.8), and no text over the face.
PREVIEW_MARK = {"pitch": 4, "core_px": 1.5, "edge_px": 1.0, "core_alpha": 100, "edge_alpha": 50}
WEBP_QUALITY = 90  # drawings; pixel art is lossless (lossy WebP's halved chroma smears blocks)


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size)


@lru_cache(maxsize=2)
def preview_mark(size: int = PREVIEW_SIZE) -> Image.Image:
    """PREVIEW_MARK alone (RGBA), drawn once per process at 4x and box-filtered (anti-aliased)."""
    m, ss = PREVIEW_MARK, 4
    big = size * ss
    pitch = size // m["pitch"]

    def lines(width: float, fill: tuple[int, int, int, int]) -> Image.Image:
        layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        for c in range(pitch // 2, 2 * size, pitch):  # x + y = c: c = 32, 96, ... misses the centre (256)
            draw.line([(c * ss, 0), (c * ss - big, big)], fill=fill, width=round(width * ss))
        return layer

    edges = lines(m["core_px"] + 2 * m["edge_px"], (0, 0, 0, m["edge_alpha"]))
    mark = Image.alpha_composite(edges, lines(m["core_px"], (255, 255, 255, m["core_alpha"])))
    mark = mark.resize((size, size), Image.Resampling.BOX)
    draw = ImageDraw.Draw(mark)
    small = font(max(8, size // 23))
    width = draw.textlength(_TEXT, font=small)
    draw.text((size - width - size // 40, size - size // 15), _TEXT, font=small, fill=(255, 255, 255, 170),
              stroke_width=1, stroke_fill=(0, 0, 0, 90))
    return mark


@lru_cache(maxsize=4)
def checkerboard(size: int, squares: int = 12) -> Image.Image:
    """CHECKER's squares (``squares`` per side) over a size x size RGBA image, opaque."""
    rows, cols = np.indices((size, size)) // max(1, size // squares)
    light = ((rows + cols) % 2 == 0)[..., None]
    pixels = np.where(light, CHECKER[0], CHECKER[1]).astype(np.uint8)
    return Image.fromarray(pixels).convert("RGBA")


def watermarked_preview(image: Image.Image, *, pixel_art: bool, weights_dir: Path | None) -> Image.Image:
    """The candidate's master (RGB, PREVIEW_SIZE px) over the checkerboard where transparent, marked."""
    master = make_master(image, pixel_art=pixel_art, weights_dir=weights_dir).convert("RGBA")
    if has_alpha(image):
        master = Image.alpha_composite(checkerboard(PREVIEW_SIZE, 16), master)
    return Image.alpha_composite(master, preview_mark(PREVIEW_SIZE)).convert("RGB")


def preview_webp(image: Image.Image, *, pixel_art: bool, weights_dir: Path | None) -> bytes:
    """The preview file: ~2-4 ms of CPU to draw and encode (JPEG at 192 px took 1.3), 10-30 kB."""
    buffer = io.BytesIO()
    preview = watermarked_preview(image, pixel_art=pixel_art, weights_dir=weights_dir)
    if pixel_art:
        preview.save(buffer, format="WEBP", lossless=True, quality=100, method=0)
    else:
        preview.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=2)  # method 4: twice the time, 4% smaller
    return buffer.getvalue()


@lru_cache(maxsize=4)
def _board_overlay(size: int) -> Image.Image:
    """The boards' pattern alone (RGBA), drawn once per process: white text with a dark edge, so
    it shows on light and dark samples alike, at low opacity."""
    mark = font(max(10, size // 9))
    tile = Image.new("RGBA", (size * 2, size * 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(tile)
    step_x, step_y = size // 2, size // 4
    for row, y in enumerate(range(0, size * 2, step_y)):
        for x in range(-step_x if row % 2 else 0, size * 2, step_x * 2):
            draw.text((x, y), _TEXT, font=mark, fill=(255, 255, 255, 70), stroke_width=1, stroke_fill=(0, 0, 0, 45))
    rotated = tile.rotate(30, resample=Image.Resampling.BICUBIC)
    offset = size // 2
    return rotated.crop((offset, offset, offset + size, offset + size))


def board_tile(image: Image.Image, *, pixel_art: bool, size: int, background: tuple[int, int, int]) -> Image.Image:
    """A board's sample: RGB, ``size`` px, transparent parts over ``background`` (the sheet), marked."""
    resample = Image.Resampling.NEAREST if pixel_art else Image.Resampling.LANCZOS
    if has_alpha(image):
        # Enlarged as RGBA (Pillow premultiplies alpha for smooth filters, so edges pick up no
        # colour stored under alpha 0), then composited at full size.
        enlarged = image.convert("RGBA").resize((size, size), resample)
        enlarged = Image.alpha_composite(Image.new("RGBA", (size, size), (*background, 255)), enlarged)
    else:
        enlarged = image.convert("RGB").resize((size, size), resample).convert("RGBA")
    return Image.alpha_composite(enlarged, _board_overlay(size)).convert("RGB")
