"""One decoded example image -> the 64 px image a training set stores, and the views the upload
check compares (effigies.themes.uploads decides what to decode and what to refuse).

Pillow + numpy only, no state: the API process runs these on every image of an upload.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from effigies.themes import pixel_grid as grids
from effigies.uniqueness.fingerprint import has_alpha, on_background

# What the training loader expects (effigies.gan.data: 64x64 PNGs, RGB or RGBA with straight alpha).
IMAGE_SIZE = 64


def with_alpha(image: Image.Image) -> Image.Image:
    """RGBA when some pixel is not fully opaque, else RGB. Colour under alpha 0 becomes 0, as the
    trainer loads it: whatever a file hides there must not decide a cell's colour or a duplicate."""
    if not has_alpha(image):
        return image.convert("RGB")
    rgba = np.array(image.convert("RGBA"))
    if rgba[..., 3].min() == 255:
        return Image.fromarray(rgba[..., :3], "RGB")
    rgba[rgba[..., 3] == 0, :3] = 0
    return Image.fromarray(rgba, "RGBA")


def center_square(image: Image.Image) -> Image.Image:
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side))


def squared(image: Image.Image, *, pixel_art: bool, grid: int | None) -> Image.Image | grids.OffGrid:
    """Centre-cropped and brought to 64 px: the cells of ``grid`` enlarged without smoothing
    (or OffGrid), else resized."""
    square = center_square(image)
    if grid:
        cells = grids.snap(np.asarray(square), grid)
        return cells if isinstance(cells, grids.OffGrid) else Image.fromarray(cells, square.mode)
    if square.size == (IMAGE_SIZE, IMAGE_SIZE):
        return square
    # Pixel art keeps hard edges when it is enlarged; everything else is filtered (Pillow
    # filters RGBA premultiplied, so no dark fringe creeps in from transparent pixels).
    upscaling = square.width < IMAGE_SIZE
    resample = Image.Resampling.NEAREST if pixel_art and upscaling else Image.Resampling.LANCZOS
    return square.resize((IMAGE_SIZE, IMAGE_SIZE), resample)


def thumb(image: Image.Image) -> np.ndarray:
    """16x16 of the white composite, as the fingerprint sees it: RGB and RGBA images compare alike."""
    return np.asarray(on_background(image).resize((16, 16), Image.Resampling.BOX), dtype=np.int16).reshape(-1)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def in_mode(png: bytes, *, rgba: bool) -> bytes:
    """A stored PNG re-encoded in the set's mode: opaque images gain an alpha of 255, transparent
    ones are composited on white (the fingerprint's composite, so their fingerprint stays)."""
    with Image.open(io.BytesIO(png)) as stored:
        return png_bytes(stored.convert("RGBA") if rgba else on_background(stored))
