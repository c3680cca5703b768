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


# What the study chose for 64 px themes (see each recipe's ``why`` and the README table):
# spectral normalisation in D in place of its BatchNorm with the hinge loss, DiffAugment
# whatever the dataset's size, EMA of G; no label smoothing or instance noise (BCE-era crutches).
NEW_BASE = {
    "loss": "hinge",
    "real_label": 1.0,
    "instance_noise": 0.0,
    "diffaugment": AUGMENT,
    "ema_images": 10_000,
}
SN32 = {"ngf": 32, "ndf": 32, "d_norm": "spectral"}

RECIPES = {
    r.slug: r
    for r in (
        Recipe(
            slug="galactic-droids",
            total_images=300_000,
            model={**SN32, "nc": 4},
            options=dict(NEW_BASE),
            why="10,000 DiceBear bottts on a transparent background (RGBA).",
        ),
        Recipe(
            slug="pixel-heroes",
            total_images=1_500_000,
            model={**SN32, "image_size": 16, "palette": 128},
            options=dict(NEW_BASE),
            why="10,000 DiceBear pixel-art renders: 16x16 cells, so G draws the 16x16 grid itself and its "
            "colours are snapped to the training set's own palette; every delivered size is crisp blocks.",
        ),
        Recipe(
            slug="arcane-sigils",
            total_images=300_000,
            model={**SN32, "nc": 4},
            options=dict(NEW_BASE),
            why="~12,000 game-icons silhouettes recoloured as glowing sigils; disc badges are transparent around the disc.",
        ),
        Recipe(
            slug="emoji-folk",
            total_images=300_000,
            model={**SN32, "nc": 4},
            options=dict(NEW_BASE),
            why="508 face emojis x 8 placements on a transparent background (RGBA).",
        ),
    )
}


def get_recipe(slug: str) -> Recipe:
    try:
        return RECIPES[slug]
    except KeyError:
        raise ValueError(f"no training recipe named {slug!r} (known: {', '.join(RECIPES)})") from None
