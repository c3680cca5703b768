"""The 256 px versions of an upload's large images, kept beside its 64 px training set.

A generator draws 64 px and the shop sells a 256 px master of each avatar (effigies.generation.master).
A theme's own upscaler (effigies.gan.upscale) learns that 4x step from pairs of the same file at
64 px and at 256 px, so when an admin's image is at least LARGE_SIZE on its short side its
256 px version is kept too: the same centre square, Lanczos, the same alpha rule and set mode
as its 64 px image, the same file name, in LARGE_DIR inside the dataset folder (the trainer
lists only the files directly in the folder, effigies.gan.data.list_images, so a sub-folder is
never trained on as 64 px images). Pixel art keeps none: its 256 px master is its cells
enlarged by blocks, which no upscaler may change.

No torch: the API process runs this during an upload.
"""
from __future__ import annotations

import dataclasses

from PIL import Image

from effigies.themes import upload_images

LARGE_SIZE = 256  # effigies.gan.upscale.HIGH, not imported: that would load torch into the API
LARGE_DIR = "large"


def eligible(size: tuple[int, int], *, pixel_art: bool, grid: int | None) -> bool:
    """A 256 px version can be cut from an image of this size without enlarging anything."""
    return not pixel_art and not grid and min(size) >= LARGE_SIZE


def version(image: Image.Image) -> Image.Image:
    """The centre square its 64 px image is cut from (effigies.themes.upload_images.squared), at
    LARGE_SIZE px. Lanczos, as there: Pillow filters RGBA premultiplied, so no dark fringe."""
    square = upload_images.center_square(image)
    if square.size == (LARGE_SIZE, LARGE_SIZE):
        return square
    return square.resize((LARGE_SIZE, LARGE_SIZE), Image.Resampling.LANCZOS)


class Spread:
    """At most ``cap`` items of a stream of unknown length, spread evenly over it (name order: every
    family of images of the upload, not the first few): every ``stride``-th item is kept, and each
    time the kept ones would pass ``cap`` the stride doubles and every other kept one is dropped.
    A stream longer than ``cap`` keeps between cap/2 and cap items."""

    def __init__(self, cap: int) -> None:
        self.cap, self.stride, self.seen = cap, 1, 0
        self.kept: list[tuple[int, int]] = []  # (position in the stream, the caller's key)

    def offer(self, key: int) -> tuple[bool, list[int]]:
        """Whether the next item is kept, and the keys of earlier ones dropped to make room."""
        position = self.seen
        self.seen += 1
        if self.cap <= 0 or position % self.stride:
            return False, []
        self.kept.append((position, key))
        if len(self.kept) <= self.cap:
            return True, []
        self.stride *= 2
        dropped = [k for p, k in self.kept if p % self.stride]
        self.kept = [(p, k) for p, k in self.kept if not p % self.stride]
        taken = not position % self.stride
        return taken, [k for k in dropped if k != key]


def keep(spread: Spread, images: list, full: Image.Image | None) -> bytes | None:
    """The PNG of ``full``'s 256 px version when ``spread`` keeps it (it is about to become
    ``images[len(images)]``); earlier images dropped to make room lose theirs (their ``large``)."""
    if full is None:
        return None
    taken, dropped = spread.offer(len(images))
    for index in dropped:
        images[index] = dataclasses.replace(images[index], large=None)
    return upload_images.png_bytes(version(full)) if taken else None
