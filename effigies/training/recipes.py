"""Training recipes of the shipped themes: dataset, network, length and stabilisers, with the reason for each.

`effigies train --theme SLUG` reads these so a shipped theme is retrained with the exact
settings it shipped with (and resumes its run folder); `effigies train --recipe NAME --data
DIR --out DIR` trains any folder with one of them. The choices come from the recipe study
(`scripts/bench_recipes.py`, benchmarks/recipes.json, docs/recipes-*.svg): every arm trained
for the same wall-clock on one thread of this 2-core CPU, scored by SWD against the training
set at equal wall-clock and at equal images seen.

The networks stay in the DCGAN family (G: transposed convolutions, BatchNorm, ReLU, tanh;
D: strided convolutions, LeakyReLU, no pooling, no fully connected hidden layer); how each
shipped network differs from Radford et al. is in ``model`` (see effigies/gan/model.py) and in
the README's recipe table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AUGMENT = "color,translation,cutout"


@dataclass(frozen=True)
class Recipe:
    slug: str
    total_images: int
    model: dict[str, Any]  # DCGANConfig fields (nc, image_size, ngf, ndf, d_norm, mbstd, mirror, palette)
    options: dict[str, Any] = field(default_factory=dict)  # TrainOptions fields
    why: str = ""
    # Steps of its 64 -> 256 px upscaler (effigies.gan.upscale); 0 = pixel art, enlarged by blocks.
    upscaler_steps: int = 0

    @property
    def width(self) -> int:
        return int(self.model.get("ngf", 64))

    @property
    def ema_images(self) -> int:
        return int(self.options.get("ema_images", 0))

    def train_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of effigies.training.cli.train_command for this recipe."""
        return {"model": dict(self.model), **self.options}

    def data_dir(self, root: Path = Path("var")) -> Path:
        return root / "datasets" / self.slug

    def run_dir(self, root: Path = Path("var")) -> Path:
        return root / "training" / self.slug

    def large_data_dir(self, root: Path = Path("var")) -> Path:
        """256 px renders of (a share of) the training images, same file names."""
        return root / "datasets" / f"{self.slug}-256"

    def upscaler_run_dir(self, root: Path = Path("var")) -> Path:
        return root / "training" / f"{self.slug}-upscaler"


# The base every 64 px theme trains with: the paper's DCGAN (BatchNorm D, non-saturating BCE)
# with today's stabilisers, which the study's short runs did not beat (see each ``why``):
# one-sided label smoothing 0.9, instance noise 0.1 fading over 200k images, DiffAugment at
# every dataset size, EMA of G (10k-image half-life).
BASE = {
    "loss": "bce",
    "real_label": 0.9,
    "instance_noise": 0.1,
    "instance_noise_images": 200_000,
    "diffaugment": AUGMENT,
    "ema_images": 10_000,
}

# Emoji folk and Galactic droids draw RGBA (nc = 4): their sources have a transparent
# background, and so do their avatars. The first RGBA retrains (session of 2026-12-01, 186-194k
# images) were grainy: DiffAugment's colour transform also brightened and contrasted the alpha
# channel, and what translation and cutout uncovered was half-transparent grey. With alpha-aware
# augmentation (effigies/gan/augment.py) Emoji folk (2026-12-02, night) and Galactic droids
# (2026-12-02, evening) were retrained to 600,064 images and ship. Arcane sigils' RGBA run scored
# SWD 38.6 (vs 91.7) but C2ST 1.000 (vs 0.983), density 0.27 / coverage 0.42 (vs 0.44 / 0.52),
# and on a close look its symbols are filled with a worm-like texture where the old ones glow
# smoothly: not shipped; it still ships the generator trained before the study (width 32, RGB).
#
# The study's second pass (2026-12-02, all 13 arms on the droids, benchmarks/recipes.json) found
# one clear win after these long runs had started: batch 64 (SWD 155.7 vs 246.7 at batch 128 after
# 2 CPU-minutes; a step of 64 costs little more than half a step of 128 on a CPU). Spectral norm +
# hinge tied with today's D and loss within the noise (246.7 vs 283.7 here, the other way round in
# the first pass). The next long runs try sn-hinge at batch 64.
#
# Latent truncation (sampling z scaled by psi < 1, as BigGAN does to trade variety for fidelity),
# measured on the shipped droids generator (2026-12-03, 4,096 samples, seed 0): SWD 26.10 at
# psi 1.0 vs 32.96 at psi 0.9, diversity 99.4 % vs 99.5 %: worse, not used.
#
# Warm start (`effigies train --init-generator`, 2026-12-03): Pixel heroes' shipped G went on
# with a fresh D at the recipe's settings, one thread beside the test suite (16-70 images/s on
# this shared CPU, not the 151-314 of an idle one). After 137k images its grid was visibly worse
# than at step 0, speckled backgrounds and blotchy faces: the new D's first gradients knock the
# trained G off; stopped, not shipped. A warm start would need D's weights too (a checkpoint).
RGBA = {"ngf": 32, "ndf": 32, "nc": 4}
TOTAL_RGBA = 600_000
SHIPPED_RGB = {"ngf": 32, "ndf": 32}
# Their 64 -> 256 px upscalers (effigies/gan/upscale.py): batch 32 of 32 px crops.
UPSCALER_STEPS = 3000
OLD_OPTIONS = {k: v for k, v in BASE.items() if k != "diffaugment"}

RECIPES = {
    r.slug: r
    for r in (
        Recipe(
            slug="galactic-droids",
            total_images=TOTAL_RGBA,
            upscaler_steps=UPSCALER_STEPS,
            model=dict(RGBA),
            options=dict(BASE),
            why="10,000 DiceBear bottts, transparent. Study, first pass: today's D and loss 543.0 SWD after 2 "
            "CPU-min vs 595.7 for spectral norm + hinge, 720.7 with TTUR; mirror symmetry left 0.0 % diversity "
            "(a mirrored image's perceptual hash shares half its bits with every other), so it cannot sell; "
            "without DiffAugment 740.6 vs 425.5 at equal images. RGBA with alpha-aware DiffAugment, 600,064 "
            "images: SWD 33.0 -> 26.1 and a real transparent background, but density 0.10 -> 0.06 and "
            "coverage 0.17 -> 0.12 (random-CNN features); shipped for the transparency and the SWD.",
        ),
        Recipe(
            slug="pixel-heroes",
            total_images=1_500_000,
            model={"ngf": 32, "ndf": 32, "image_size": 16, "palette": 128},
            options=dict(BASE),
            why="10,000 DiceBear pixel-art renders: 16x16 cells, so G draws the 16x16 grid itself and its "
            "colours are snapped to the set's 128 commonest colours (98.5 % of its pixels); every delivered "
            "size is crisp blocks, and a grid image costs half a 64 px one (314 vs 151 images per CPU-second). "
            "Study on the grid: today's recipe 203.0 SWD vs 206.9 for spectral norm + hinge + TTUR; a first "
            "run with spectral norm + hinge still drew one face in 64 after 140k images. The cheap grid buys "
            "length: 1,500,032 images (vs 379,520 first) took SWD 83.8 -> 44.0, C2ST 0.940 -> 0.889.",
        ),
        Recipe(
            slug="arcane-sigils",
            total_images=300_000,
            upscaler_steps=UPSCALER_STEPS,
            model=dict(SHIPPED_RGB),
            options=dict(OLD_OPTIONS),  # DiffAugment "auto": off at 12,150 images, as it shipped
            why="12,150 game-icons silhouettes recoloured as glowing sigils. Not in the study. The RGBA retrain "
            "(disc badges transparent, DiffAugment on, 185,600 images) scored SWD 74.0 vs 91.7 but its "
            "symbols were speckled and C2ST rose to 1.000: not shipped. Again with alpha-aware DiffAugment to "
            "600,064 images: SWD 38.6, but C2ST 1.000, lower density and coverage, worm-textured symbols: not shipped.",
        ),
        Recipe(
            slug="emoji-folk",
            total_images=TOTAL_RGBA,
            upscaler_steps=UPSCALER_STEPS,
            model=dict(RGBA),
            options=dict(BASE),
            why="508 face emojis x 8 variants. Study (flat-colour set): today's D and loss 423.8 SWD after 2 "
            "CPU-min vs 475.4 for spectral norm + hinge, 491.2 with minibatch stddev, 620.8 with TTUR; "
            "mirror 468.8 but 0.3 % diversity; without DiffAugment 764.5 vs 668.6 at 8,192 images. The "
            "RGBA retrain (193,920 images) scored SWD 72.5 vs 64.1; with alpha-aware DiffAugment and 600,064 images "
            "SWD 45.3, density 0.61 (vs 0.35), transparent: shipped.",
        ),
    )
}


def get_recipe(slug: str) -> Recipe:
    try:
        return RECIPES[slug]
    except KeyError:
        raise ValueError(f"no training recipe named {slug!r} (known: {', '.join(RECIPES)})") from None
