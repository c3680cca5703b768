"""Training recipes of the shipped themes: dataset, length and stabilisers, with the reason for each.

`effigies train --theme SLUG` reads these so a shipped theme is retrained with
the exact settings it shipped with (and resumes its run folder). The network is
the paper's DCGAN; its width (ngf = ndf) is chosen per theme from measurements.
Pixel heroes, Emoji folk and Arcane sigils were trained on an AVX2-only CPU (no bf16,
fp32 + channels_last): one full D+G step of batch 128 on one thread measured 22.6
images/s at width 64, 44.4 at 48 and 80.4 at 32 (with a dataset build running
beside it), so width 32 (1.1 M generator
parameters instead of 3.6 M) buys ~3.5x more images seen in the same hours.
Flat-coloured pixel art, emoji faces and two-tone sigils have far less detail
than bottts, and the narrower D memorises a small set (emoji) more slowly. Galactic droids
was retrained at width 32 too (bf16 on a later AVX512-BF16 CPU, 33 min on one thread):
fresh samples 50 bits apart (median nearest neighbour, 256-bit fingerprint) instead of 14,
and a lower SWD (33.0 vs 75.9).
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
    width: int = 64  # feature maps of G and D (ngf = ndf); the paper's 64 by default
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
            total_images=300_000,
            width=32,
            diffaugment="color,translation,cutout",
            ema_images=10_000,
            why="10,000 DiceBear bottts. The first version (width 64, no EMA, no DiffAugment, 400k images) "
            "drew recognisable droids but few different ones: with the 256-bit fingerprint its fresh samples' "
            "nearest neighbour was a median 10 bits away against 30 between real droids (issue 4), so it could "
            "sell only a few thousand. Retrained with the recipe that kept the three later themes diverse",
        ),
        Recipe(
            slug="pixel-heroes",
            total_images=300_000,
            width=32,
            diffaugment="color,translation,cutout",
            ema_images=10_000,
            why="10,000 DiceBear pixel-art renders. Without DiffAugment (width 32) D separated the crisp "
            "16x16 pixel grid from G's first attempts within 20k images: D(G(z)) fell to 0, loss_g rose "
            "to 19 and every sample became the same grey face (mode collapse); with colour, translation "
            "and cutout on both real and fake images D cannot win that fast. EMA removes the grain",
        ),
        Recipe(
            slug="arcane-sigils",
            total_images=300_000,
            width=32,
            diffaugment="auto",
            ema_images=10_000,
            why="~12,000 coloured game-icons silhouettes: varied shapes, so the aim is the look "
            "(glowing symbol on a dark badge) rather than a copy of one icon",
        ),
        Recipe(
            slug="emoji-folk",
            total_images=300_000,
            width=32,
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
