"""What a person sees of a candidate before buying it: enlarged, lightly watermarked.

The clean 64×64 image stays private to the server (it becomes the avatar when sold); the
preview is enlarged to PREVIEW_SIZE so it reads well on a phone, and carries a faint
diagonal "EFFIGIES" pattern: enough that a screenshot is no substitute for buying, light
enough to judge the avatar. Written by the worker beside the clean file, once, so serving
a preview costs the API nothing but a file read. A transparent (RGBA) candidate is shown over
a checkerboard, since a JPEG has no alpha (see CHECKER).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from effigies.uniqueness.fingerprint import has_alpha

PREVIEW_SIZE = 192  # 3× the generators' 64 px: whole pixels for pixel art
_TEXT = "EFFIGIES"
# DejaVu Sans (free licence, beside it), shipped because Pillow's built-in font has no accents
# or dashes, and a server may have no fonts at all.
FONT = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"
# Transparency as the light checkerboard of image editors: any flat colour would read as the
# avatar's own background, and a buyer must see there is none (the avatar will sit on whatever
# page or game hotlinks it). Two light greys, not white and black, so dark and mid-tone avatars
# stay readable and the faint watermark keeps its look. Squares of size / 12 px (16 at 192, 8 on
# a 64-sample board's 96 px tiles) fall on JPEG's 8x8 blocks, so their edges stay crisp.
CHECKER = ((242, 242, 242), (204, 204, 204))


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size)


@lru_cache(maxsize=4)
def _overlay(size: int) -> Image.Image:
    """The watermark alone (RGBA), drawn once per process: white text with a dark edge, so it
    shows on light and dark avatars alike, at low opacity."""
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


@lru_cache(maxsize=4)
def checkerboard(size: int) -> Image.Image:
    """CHECKER's squares over a size x size RGBA image, opaque."""
    rows, cols = np.indices((size, size)) // max(1, size // 12)
    light = ((rows + cols) % 2 == 0)[..., None]
    pixels = np.where(light, CHECKER[0], CHECKER[1]).astype(np.uint8)
    return Image.fromarray(pixels, mode="RGB").convert("RGBA")


def watermarked_preview(
    image: Image.Image, *, pixel_art: bool, size: int = PREVIEW_SIZE, background: tuple[int, int, int] | None = None
) -> Image.Image:
    """RGB, ``size`` px, watermarked. Transparent parts show over ``background`` (a board's sheet
    colour), by default over the checkerboard."""
    resample = Image.Resampling.NEAREST if pixel_art else Image.Resampling.LANCZOS
    if has_alpha(image):
        # Enlarged as RGBA (Pillow premultiplies alpha for smooth filters, so edges pick up no
        # colour stored under alpha 0), then composited at full size so the squares stay sharp.
        enlarged = image.convert("RGBA").resize((size, size), resample)
        base = checkerboard(size) if background is None else Image.new("RGBA", (size, size), (*background, 255))
        enlarged = Image.alpha_composite(base, enlarged)
    else:
        enlarged = image.convert("RGB").resize((size, size), resample).convert("RGBA")
    return Image.alpha_composite(enlarged, _overlay(size)).convert("RGB")
