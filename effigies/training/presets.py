"""The admin's three training presets, and the full options a run is started (and resumed) with.

Every preset is the shipped themes' recipe (effigies/training/recipes.py: paper DCGAN at width
32, one-sided label smoothing 0.9, instance noise 0.1, EMA half-life 10k images, DiffAugment
whatever the set's size, as the recipe study measured); they differ only in how many images D
is shown.

The network follows the theme's set: a theme declared pixel art on an N-cell grid gets a
generator that draws N x N (one pixel per cell, enlarged without smoothing at delivery) and snaps
its colours to a palette learned from the set; a set stored as RGBA (most uploaded images had
transparency, effigies.themes.uploads) gets a generator that draws alpha.

A set whose upload kept enough 256 px versions (effigies.themes.large_images) also trains the
theme's 64 -> 256 px upscaler once its generator is exported (effigies.training.upscaling).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from effigies.config import Settings
from effigies.themes.large_images import LARGE_DIR
from effigies.training.recipes import AUGMENT
from effigies.training.cli import (
    DEFAULT_EMA_IMAGES,
    DEFAULT_INSTANCE_NOISE,
    DEFAULT_INSTANCE_NOISE_IMAGES,
    DEFAULT_REAL_LABEL,
)

# Same suffixes as effigies.gan.data.list_images (not imported: that would load torch into the API
# process, which never trains).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Width 32 rather than the paper's 64: on the 2-core CPUs these themes were trained on, one D+G
# step ran 3.5x faster (80.4 vs 22.6 images/s, recipes.py) and the shipped themes, trained at 32,
# are more diverse; a GPU worker gains nothing from a wider net for 64x64 flat-style avatars.
WIDTH = 32
BATCH_SIZE = 128
# Points kept for the loss chart: enough for a smooth curve, small enough to rewrite every heartbeat.
LOSS_POINTS = 200
# Colours of a pixel-grid theme's palette (effigies.gan.data.learn_palette; a set with fewer is
# its own palette exactly, padded). 64 holds the classic fixed palettes whole (PICO-8 16, DB32,
# NES 54, AAP-64) and, on the richest set at hand (1,000 Pixel heroes at 16x16 cells: 325
# colours, ~10 per image), kept 95.0 % of the pixels exactly, mean error 0.67/255 (32 colours:
# 58.8 %, 4.63/255; 128: 98.6 %, 0.13/255). More colours buy little that shows, and a denser
# palette lets G's small errors on a flat area land on neighbouring shades, which speckles it.
PALETTE_COLOURS = 64
# Files looked at to tell an RGBA set from an RGB one (headers only, nothing decoded).
MODE_SAMPLE = 64
# The upscaler of an admin's theme (effigies.gan.upscale). Half the shipped themes' 3,000 steps
# (effigies.training.recipes): an upload keeps at most 512 pairs (effigies.themes.uploads.Limits),
# not 4,096, and 1,500 steps of 32 crops already show each of them ~90 times. Measured on the
# 2-core machine under load (one thread, nice 19): 0.14 s a step, ~3.5 min, against hours of GAN.
UPSCALER_STEPS = 1500
UPSCALER_BATCH_SIZE = 32
UPSCALER_CROP = 32
# Fewer pairs than this and no upscaler is trained: a network fitted to a few dozen images
# learns their particular edges, not the theme's, and could sharpen the wrong things into every
# master sold; Lanczos, which invents nothing, stays the theme's enlargement.
MIN_UPSCALER_PAIRS = 64


@dataclass(frozen=True)
class Preset:
    name: str
    total_images: int
    why: str


def _image_paths(data_dir: Path) -> list[Path]:
    if not data_dir.is_dir():
        return []
    return sorted(
        p for p in data_dir.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def count_images(data_dir: Path) -> int:
    """Images the trainer would load from ``data_dir`` (0 when the folder is missing)."""
    return len(_image_paths(data_dir))


def count_large_images(data_dir: Path) -> int:
    """Training images of ``data_dir`` with a 256 px version of the same name in its LARGE_DIR:
    the upscaler's pairs (effigies.gan.upscale.load_pairs matches them so)."""
    names = {p.name for p in _image_paths(data_dir)}
    return sum(p.name in names for p in _image_paths(data_dir / LARGE_DIR))


def dataset_channels(data_dir: Path) -> int:
    """4 when most of the set's images carry alpha (an upload stores one mode for the whole set,
    effigies.themes.uploads), else 3. Reads the headers of at most MODE_SAMPLE files, spread
    over the set, so a folder made by hand with a few odd files still gets its majority."""
    paths = _image_paths(data_dir)
    if not paths:
        return 3
    step = max(1, len(paths) // MODE_SAMPLE)
    seen = with_alpha = 0
    for path in paths[::step][:MODE_SAMPLE]:
        try:
            with Image.open(path) as image:
                alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        except (OSError, UnidentifiedImageError):
            continue  # the trainer will say what is wrong with it
        seen += 1
        with_alpha += alpha
    return 4 if 2 * with_alpha > seen else 3


def presets(settings: Settings) -> dict[str, Preset]:
    return {
        p.name: p
        for p in (
            Preset(
                "quick",
                settings.training_quick_images,
                # Pixel heroes collapsed within 20k images when its recipe was wrong, so 30k shows whether a
                # dataset trains at all (faces or shapes appear, or D wins and G emits grey noise) in
                # 6-11 min on a 2-core CPU and well under a minute on a GPU. EE_TRAINING_QUICK_IMAGES
                # shortens it further for tests and demos.
                "a first look: does this dataset train at all? Shapes appear, or the run collapses early",
            ),
            Preset(
                "standard",
                300_000,
                # What every shipped theme was trained with (33 min to 1.75 h on one CPU thread).
                "the length every shipped theme was trained for: recognisable, diverse avatars",
            ),
            Preset(
                "long",
                600_000,
                # Arcane sigils was still grainy at 268k images and improving: varied sets pay for more.
                "twice the standard length, for large or varied sets whose samples are still improving",
            ),
        )
    }


def training_options(
    preset: Preset, *, n_images: int, settings: Settings, seed: int | None = None,
    pixel_grid: int | None = None, channels: int = 3, large_images: int = 0, pixel_art: bool = False,
) -> dict[str, Any]:
    """Everything the worker needs besides paths, fixed when the run is created so a resume trains
    exactly the same run (TrainOptions fields, plus the network's ``width``, ``image_size``,
    ``palette`` and ``nc``, the upscaler's ``upscaler_*``, and what the admin page shows)."""
    total = int(preset.total_images)
    # Pixel art never gets one: its masters are its cells enlarged by blocks (effigies.generation.master).
    upscaler = not pixel_art and not pixel_grid and large_images >= MIN_UPSCALER_PAIRS
    total_steps = max(1, -(-total // min(BATCH_SIZE, max(1, n_images))))
    return {
        "total_images": total,
        "batch_size": BATCH_SIZE,
        "width": WIDTH,
        "image_size": int(pixel_grid or 64),
        "palette": PALETTE_COLOURS if pixel_grid else 0,
        "nc": int(channels),
        # At every set size: without it SWD was worse on both 4,064 emojis and 10,000 droids
        # (benchmarks/recipes.json, arm today-no-diffaug).
        "diffaugment": AUGMENT,
        "diffaugment_on": True,
        "ema_images": DEFAULT_EMA_IMAGES,
        "real_label": DEFAULT_REAL_LABEL,
        "instance_noise": DEFAULT_INSTANCE_NOISE,
        # Noise must be gone before the end, or the last samples come from a D that never saw clean images.
        "instance_noise_images": min(DEFAULT_INSTANCE_NOISE_IMAGES, total),
        "checkpoint_every_s": settings.training_checkpoint_s,
        "sample_every_s": settings.training_sample_s,
        # About 200 progress events per run (the loss chart's resolution), never fewer than one per
        # 10 steps: a short run still moves its progress bar step by step.
        "log_every": max(1, min(10, total_steps // LOSS_POINTS)),
        "seed": secrets.randbits(31) if seed is None else int(seed),
        "n_images": int(n_images),
        "upscaler_pairs": int(large_images),
        "upscaler_steps": UPSCALER_STEPS if upscaler else 0,  # 0: no upscaler, masters by Lanczos
        "upscaler_batch_size": UPSCALER_BATCH_SIZE,
        "upscaler_crop": UPSCALER_CROP,
    }
