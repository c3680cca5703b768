"""Design boards ("planches"): a sheet of fresh samples of a theme for designers to look at.

Inspiration, not merchandise: every sample is watermarked with a dense text pattern, the
sheet says so in both languages, and its samples are filtered like candidates (no near-copy
of a sold avatar or a training image ever appears on a board). A board is made by a generate
worker (where the generators are warm) as a PNG and a PDF under images/boards/<id>/; the
PDF is written last, so its presence means the board is complete.
"""
from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from PIL import Image, ImageDraw

from effigies.config import get_settings
from effigies.generation.preview import board_tile, font

COUNTS = (16, 64)
TILE = {16: 192, 64: 96}  # px per sample: both sheets come out ~A4-wide at 150 dpi
GAP, MARGIN = 12, 48
SHEET = (250, 249, 246)  # off-white paper; transparent samples are drawn straight onto it
_BOARD_ID = re.compile(r"^[0-9a-f]{32}$")


def board_dir(board_id: str) -> Path:
    if not _BOARD_ID.match(board_id):  # it becomes part of a path
        raise ValueError("malformed board id")
    return get_settings().images_dir / "boards" / board_id


def compose(images: list[Image.Image], *, per_row: int, title: str, made_on: date, pixel_art: bool) -> Image.Image:
    """The sheet: a title line, a grid of watermarked samples, a footer."""
    tile = TILE.get(per_row * per_row, 128)
    rows = -(-len(images) // per_row)
    width = per_row * tile + (per_row - 1) * GAP + 2 * MARGIN
    grid_height = rows * tile + (rows - 1) * GAP
    sheet = Image.new("RGB", (width, grid_height + 3 * MARGIN + 40), SHEET)
    draw = ImageDraw.Draw(sheet)
    draw.text((MARGIN, MARGIN // 2), f"{title} — {made_on.isoformat()}", font=font(26),
              fill=(30, 30, 40))
    top = MARGIN + 40
    for i, image in enumerate(images):
        row, col = divmod(i, per_row)
        sheet.paste(board_tile(image, pixel_art=pixel_art, size=tile, background=SHEET),
                    (MARGIN + col * (tile + GAP), top + row * (tile + GAP)))
    draw.text((MARGIN, top + grid_height + MARGIN // 2),
              "Planche d’inspiration — non vendable · Inspiration board — not for sale · Effigies Edification",
              font=font(16), fill=(90, 90, 100))
    return sheet


def save(sheet: Image.Image, folder: Path) -> None:
    """PNG, then PDF: the PDF's presence says the board is complete."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, fmt, options in (("board.png", "PNG", {}), ("board.pdf", "PDF", {"resolution": 150.0})):
        tmp = folder / f".{name}.tmp"
        sheet.save(tmp, format=fmt, **options)
        tmp.replace(folder / name)


def request(folder: Path, **meta) -> None:
    """Written by the API when a board is asked for: who asked, for what."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "request.json").write_text(json.dumps(meta))


def requested(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "request.json").read_text())
    except (OSError, ValueError):
        return None
