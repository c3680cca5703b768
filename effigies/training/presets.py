"""The admin's three training presets, and the full options a run is started (and resumed) with.

Every preset is the shipped themes' recipe (effigies/training/recipes.py: paper DCGAN at width
32, one-sided label smoothing 0.9, instance noise 0.1, EMA half-life 10k images, DiffAugment
"auto" = on below 5,000 images); they differ only in how many images D is shown.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from effigies.config import Settings
from effigies.training.cli import (
    DEFAULT_EMA_IMAGES,
    DEFAULT_INSTANCE_NOISE,
    DEFAULT_INSTANCE_NOISE_IMAGES,
    DEFAULT_REAL_LABEL,
)

# effigies.gan.train.AUTO_AUGMENT_BELOW (a test keeps them equal): not imported, because that would
# load torch into the API process, which never trains.
AUTO_AUGMENT_BELOW = 5_000
# Same suffixes as effigies.gan.data.list_images, for the same reason.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Width 32 rather than the paper's 64: on the 2-core CPUs these themes were trained on, one D+G
# step ran 3.5x faster (80.4 vs 22.6 images/s, recipes.py) and the shipped themes, trained at 32,
# are more diverse; a GPU worker gains nothing from a wider net for 64x64 flat-style avatars.
WIDTH = 32
BATCH_SIZE = 128
# Points kept for the loss chart: enough for a smooth curve, small enough to rewrite every heartbeat.
LOSS_POINTS = 200


@dataclass(frozen=True)
class Preset:
    name: str
    total_images: int
    why: str


def count_images(data_dir: Path) -> int:
    """Images the trainer would load from ``data_dir`` (0 when the folder is missing)."""
    if not data_dir.is_dir():
        return 0
    return sum(
        1 for p in data_dir.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


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


def training_options(preset: Preset, *, n_images: int, settings: Settings, seed: int | None = None) -> dict[str, Any]:
    """Everything the worker needs besides paths, fixed when the run is created so a resume trains
    exactly the same run (TrainOptions fields, plus ``width`` and what the admin page shows)."""
    total = int(preset.total_images)
    total_steps = max(1, -(-total // min(BATCH_SIZE, max(1, n_images))))
    return {
        "total_images": total,
        "batch_size": BATCH_SIZE,
        "width": WIDTH,
        "diffaugment": "auto",
        # Shown to the admin; the trainer decides again from the images it actually loads.
        "diffaugment_on": n_images < AUTO_AUGMENT_BELOW,
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
    }
