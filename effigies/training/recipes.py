"""Training recipes of the shipped themes: dataset, length and stabilisers, with the reason for each.

`effigies train --theme SLUG` reads these so a shipped theme is retrained with
the exact settings it shipped with (and resumes its run folder). The network is
the paper's DCGAN (ngf = ndf = 64) for every theme: at 64x64 it is small enough
for ~100 images/s on two CPU cores (benchmarks/train.json) and the Galactic
droids run showed it has the capacity for 10,000 detailed robot heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Recipe:
    slug: str
    total_images: int
    diffaugment: str  # "auto" = on below 5,000 training images
    ema_images: int  # EMA half-life in images (0 = off)
    real_label: float = 0.9
    instance_noise: float = 0.1
    instance_noise_images: int = 200_000
    why: str = ""

    def data_dir(self, root: Path = Path("var")) -> Path:
        return root / "datasets" / self.slug

    def run_dir(self, root: Path = Path("var")) -> Path:
        return root / "training" / self.slug


RECIPES = {
    r.slug: r
    for r in (
        Recipe(
            slug="galactic-droids",
            total_images=400_000,
            diffaugment="",
            ema_images=0,
            why="shipped before EMA existed; 400k images = 40 epochs of 10,000 bottts, "
            "recognisable droids from ~150k on, details kept improving to 400k",
        ),
        Recipe(
            slug="pixel-heroes",
            total_images=400_000,
            diffaugment="auto",
            ema_images=10_000,
            why="10,000 DiceBear pixel-art renders: big enough that DiffAugment stays off; "
            "flat colours and a 16x16 pixel grid are easier than bottts, EMA removes the grain",
        ),
        Recipe(
            slug="arcane-sigils",
            total_images=400_000,
            diffaugment="auto",
            ema_images=10_000,
            why="~12,000 coloured game-icons silhouettes: varied shapes, so the aim is the look "
            "(glowing symbol on a dark badge) rather than a copy of one icon",
        ),
        Recipe(
            slug="emoji-folk",
            total_images=400_000,
            diffaugment="auto",
            ema_images=10_000,
            why="a few hundred distinct faces x a few variants: small enough for D to memorise, "
            "so DiffAugment (colour, translation, cutout) is on",
        ),
    )
}


def get_recipe(slug: str) -> Recipe:
    try:
        return RECIPES[slug]
    except KeyError:
        raise ValueError(f"no training recipe for theme {slug!r} (known: {', '.join(RECIPES)})") from None
