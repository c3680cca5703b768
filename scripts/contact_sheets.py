#!/usr/bin/env python3
"""Contact sheets: 16 fresh samples per theme at 256 px on a dark and a light page, as a buyer sees them.

    .venv/bin/python scripts/contact_sheets.py                 # every shipped theme -> docs/sheets/<slug>.png
    .venv/bin/python scripts/contact_sheets.py emoji-folk --generator docs/before/emoji-folk --out /tmp/x.png

Latents 0-15 of seed 0 (the first 16 of the README grid, not picked), each drawn as the shop
delivers it at 256 px: its master (effigies.generation.master: nearest neighbour for pixel art,
the theme's upscaler where its folder has one, Lanczos otherwise), left half of the
sheet on Discord's dark grey (#313338), right half on white: a transparent avatar shows its
alpha on both, an opaque one shows its own square.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from effigies.generation.master import make_master  # noqa: E402
from effigies.gan.checkpoint import load_generator  # noqa: E402
from effigies.gan.sample import latents, sample  # noqa: E402
from effigies.generation.preview import font  # noqa: E402
from effigies.themes.service import BUILTIN_THEMES, PRETRAINED_DIR  # noqa: E402

SIZE, GAP, PER_ROW = 256, 16, 4
DARK, LIGHT = (49, 51, 56), (255, 255, 255)


def sheet(generator_dir: Path, title: str, *, pixel_art: bool) -> Image.Image:
    generator, config = load_generator(generator_dir)
    images = [Image.fromarray(a) for a in sample(generator, latents(16, config.nz, seed=0))]
    big = [make_master(im, pixel_art=pixel_art, weights_dir=generator_dir).convert("RGBA") for im in images]
    half_w = PER_ROW * SIZE + (PER_ROW + 1) * GAP
    rows = 16 // PER_ROW // 2  # each half shows 8 samples: the first 8 on dark, the next 8 on light
    height = 48 + rows * SIZE + (rows + 1) * GAP
    out = Image.new("RGBA", (2 * half_w, height), (0, 0, 0, 255))
    for side, colour in enumerate((DARK, LIGHT)):
        out.paste(Image.new("RGBA", (half_w, height), (*colour, 255)), (side * half_w, 0))
        for i, tile in enumerate(big[side * 8 : side * 8 + 8]):
            r, c = divmod(i, PER_ROW)
            x, y = side * half_w + GAP + c * (SIZE + GAP), 48 + GAP + r * (SIZE + GAP)
            out.alpha_composite(tile, (x, y))
    draw = ImageDraw.Draw(out)
    draw.text((GAP, 12), f"{title} — 256 px, latents 0-7 of seed 0 on dark", font=font(20), fill=LIGHT)
    draw.text((half_w + GAP, 12), "latents 8-15 on light", font=font(20), fill=DARK)
    return out.convert("RGB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("slugs", nargs="*", help="shipped themes (default: all)")
    parser.add_argument("--generator", type=Path, help="a generator folder other than the shipped one (one slug)")
    parser.add_argument("--out", type=Path, help="output PNG (one slug; default docs/sheets/<slug>.png)")
    args = parser.parse_args(argv)
    specs = {s.slug: s for s in BUILTIN_THEMES}
    slugs = args.slugs or list(specs)
    unknown = [s for s in slugs if s not in specs]
    if unknown:
        parser.error(f"unknown theme(s) {', '.join(unknown)}; choose from {', '.join(specs)}")
    if (args.generator or args.out) and len(slugs) != 1:
        parser.error("--generator and --out take exactly one theme")
    for slug in slugs:
        spec = specs[slug]
        out = args.out or ROOT / "docs" / "sheets" / f"{slug}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        sheet(args.generator or PRETRAINED_DIR / slug, spec.name, pixel_art=spec.pixel_art).save(out, optimize=True)
        print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
