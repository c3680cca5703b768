"""The 256 px master of an avatar: the one picture every public size and format is derived from.

A generator draws 64 px. The master is that design at MASTER_SIZE (4x), made once per avatar,
and every variant (16-1024 px, PNG/WebP/JPEG: effigies.avatars.variants) is a resize of it, so
all sizes agree with each other and with the preview the buyer judged (the worker draws each
candidate's preview from a master made by the same function: effigies.generation.preview).

`make_master` is the upscaling seam:

- pixel-art themes (Theme.pixel_art): nearest neighbour x4. Their design *is* the grid; each
  source pixel becomes a 4x4 block of exactly its colour, and no upscaler may invent between them.
- other themes: the model version's own trained upscaler when its weights folder holds
  UPSCALER_FILE (issue 15, item 1: a small network trained on the theme's art, 64 -> 256,
  alpha preserved), otherwise Lanczos. The trained network is to live in effigies.gan (pure
  PyTorch, knowing nothing of this package) as `effigies.gan.upscale.load_upscaler(folder)`,
  returning a callable from a uint8 array (64, 64, C) to a uint8 array (256, 256, C), C = 3 or 4
  as given; `load_theme_upscaler` below is the only place that knows that contract, and it is
  imported only when a folder has the file, so nothing changes for themes without one.

A master is kept on disk (effigies.avatars.delivery) and never remade: a model version's
weights never move, so an upscaler belongs with a *new* model version; avatars sold before it
keep the master they were first served with (their URLs are cached "immutable" for a year).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from effigies.uniqueness.fingerprint import has_alpha

SOURCE_SIZE = 64    # what the generators deliver (effigies.gan.sample.deliver)
MASTER_SIZE = 256   # 4 x SOURCE_SIZE: whole blocks for pixel art
UPSCALER_FILE = "upscaler.safetensors"  # with its JSON config beside it, as generator.safetensors

Upscaler = Callable[[Image.Image], Image.Image]


def make_master(image: Image.Image, *, pixel_art: bool, weights_dir: Path | None) -> Image.Image:
    """``image`` (the stored 64 px avatar) at MASTER_SIZE px: RGBA when it has transparency,
    RGB otherwise. ``weights_dir`` is the avatar's model version folder (None: no upscaler)."""
    source = image.convert("RGBA" if has_alpha(image) else "RGB")
    size = (MASTER_SIZE, MASTER_SIZE)
    if pixel_art:
        return source.resize(size, Image.Resampling.NEAREST)
    upscaler = load_theme_upscaler(weights_dir) if weights_dir is not None and (weights_dir / UPSCALER_FILE).is_file() else None
    if upscaler is None:
        # Pillow premultiplies alpha for smooth filters: edges pick up no colour stored under alpha 0.
        return source.resize(size, Image.Resampling.LANCZOS)
    master = upscaler(source)
    if master.size != size or master.mode != source.mode:
        raise ValueError(f"the upscaler in {weights_dir} gave {master.mode} {master.size}, not {source.mode} {size}")
    return master


@lru_cache(maxsize=16)
def load_theme_upscaler(weights_dir: Path) -> Upscaler:
    """The trained upscaler of a model version (its folder holds UPSCALER_FILE), loaded once per
    process and folder. A folder with the file but no code able to run it is an error, never a
    silent Lanczos: a master is permanent, so a wrong one must not be written."""
    from effigies.gan.upscale import load_upscaler  # issue 15, item 1; only imported where a theme has one

    network = load_upscaler(weights_dir)

    def upscale(image: Image.Image) -> Image.Image:
        return Image.fromarray(np.ascontiguousarray(network(np.asarray(image)), dtype=np.uint8))

    return upscale
