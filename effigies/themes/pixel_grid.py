"""Pixel art on a declared grid: an example image -> its 64 px image of constant cells, or why not.

A theme declared "pixel art, grid N" trains a generator that draws N x N cells, one generated
pixel per cell (effigies.gan, ``DCGANConfig.image_size``), enlarged without smoothing to the
delivered 64 px. Its examples must be drawn on that grid, exactly: a cell with two colours in it
would be averaged into a colour that no example has, and the generator would learn the blur.

The check runs on the image at its own resolution, centre-cropped to a square of side s, before
any resampling: cell j of N covers the source pixels that overlap [j*s/N, (j+1)*s/N), and every
such pixel must hold the same colour (alpha included; colour under alpha 0 does not count).
That covers every way pixel art arrives: native 16x16 sources (each pixel is a cell, or a part
of one on a finer grid), exact 64 px images, and large renders whose side is any multiple of N
(512 px, but also 160 px with 10 px cells, which no integer rescale to 64 px reaches). It is
stricter than checking a 64 px box-filtered copy: a dithered cell of a large render averages to a
flat colour at 64 px, yet it is not one colour. No tolerance: a lossless file of pixel art is
exact, and JPEG is refused before decoding (effigies.themes.uploads) since its 8x8 blocks smear
colour across cell edges; a lossy WebP fails this check and the message names the likely cause.

numpy only: the API process runs it on every upload.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Cells per side a theme may declare. 64 would be no grid at all (leave it empty); 4 (16 px cells)
# leaves 16 pixels to tell avatars apart, far too few for a shop selling unique ones.
GRIDS = (8, 16, 32)
DELIVERED = 64


def grid_problem(value: object) -> str | None:
    """Why ``value`` is not a grid a theme may declare, in words naming the allowed values; None when it is."""
    allowed = "The grid must be 8, 16 or 32 cells per side (whole cells of the 64 px image; leave it empty for no grid)"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{allowed}: {str(value)[:20]!r} is not a whole number."
    if value <= 0:
        return f"{allowed}: {value} cells is no grid."
    if DELIVERED % value:
        return f"{allowed}: {value} does not divide 64."
    if value == DELIVERED:
        return f"{allowed}: 64 cells of 1 px is no grid at all."
    if value not in GRIDS:
        return f"{allowed}: {value}x{value} cells are too few to tell avatars apart."
    return None


@dataclass(frozen=True)
class OffGrid:
    side: int  # the square's side, in source pixels, that was checked
    cells: int  # how many cells hold more than one colour
    first: tuple[int, int]  # (column, row) of the first such cell, from 1 at the top left

    def message(self, grid: int) -> str:
        cell = self.side / grid
        return (
            f"Not drawn on a {grid}x{grid} grid: {self.cells} of {grid * grid} cells ({cell:g} px each once "
            f"centre-cropped to {self.side}x{self.side}) hold more than one colour, the first at column "
            f"{self.first[0]}, row {self.first[1]}. Pixel art must be exact: no smoothing, no lossy compression."
        )


def _bands(side: int, grid: int) -> list[tuple[int, int]]:
    # [lo, hi) of the source pixels overlapping cell j; one that straddles two cells is in both.
    return [(j * side // grid, -(-(j + 1) * side // grid)) for j in range(grid)]


def snap(pixels: np.ndarray, grid: int) -> np.ndarray | OffGrid:
    """A square uint8 HWC image -> the (64, 64, C) image of its ``grid`` x ``grid`` cells, each a
    block of 64 / grid pixels; or OffGrid when some cell is not one colour.

    Rows then columns: each cell row must repeat one line of pixels, and each cell column one
    column; together that makes every cell constant, in 2 x grid array comparisons rather than
    one per cell."""
    side = pixels.shape[0]
    bands = _bands(side, grid)
    owner = np.arange(side) * grid // side  # the cell a source pixel's left/top edge lies in
    bad = np.zeros((grid, grid), dtype=bool)  # [row, column]
    for j, (lo, hi) in enumerate(bands):
        columns = (pixels[lo:hi] != pixels[lo]).any(axis=(0, 2))
        bad[j, owner[columns]] = True
        rows = (pixels[:, lo:hi] != pixels[:, lo : lo + 1]).any(axis=(1, 2))
        bad[owner[rows], j] = True
    if bad.any():
        row, column = np.argwhere(bad)[0]
        return OffGrid(side=side, cells=int(bad.sum()), first=(int(column) + 1, int(row) + 1))
    starts = np.array([lo for lo, _ in bands])
    cells = pixels[np.ix_(starts, starts)]
    block = DELIVERED // grid
    return cells.repeat(block, axis=0).repeat(block, axis=1)
