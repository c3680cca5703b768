#!/usr/bin/env python3
"""A shipped theme's "how it learns" timeline, from a short re-run of its recipe.

    make dataset-emoji-folk
    .venv/bin/python scripts/replay_timeline.py emoji-folk            # ~5 min of CPU at width 32

The shipped generators' own runs (300,000 images, hours of CPU) predate timelines. This
re-runs the theme's recipe (effigies/training/recipes.py: width, DiffAugment, EMA,
stabilisers) from scratch for --images training images, saving the fixed-latent sample grid
every second, then keeps 12 frames spread in log time and the smoothed losses in
effigies/themes/pretrained/<slug>/timeline/, marked as a re-run (`replay: true`) so the page
says so. Resumable: run it again after an interruption.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("slug")
    parser.add_argument("--images", type=int, default=20_000, help="training images seen (default 20,000)")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()

    from effigies.training.cli import train_command
    from effigies.training.recipes import get_recipe
    from effigies.training.timeline import export_timeline

    recipe = get_recipe(args.slug)
    data_dir = ROOT / recipe.data_dir()
    if not data_dir.is_dir():
        print(f"error: {data_dir} is missing: run `make dataset-{args.slug}` first", file=sys.stderr)
        return 2
    run_dir = ROOT / "var" / "replay" / args.slug
    rc = train_command(
        data_dir, run_dir, total_images=args.images, num_threads=args.threads, sample_every_s=1.0,
        **recipe.train_kwargs(),
    )
    if rc != 0:
        return rc
    dest = export_timeline(run_dir, ROOT / "effigies" / "themes" / "pretrained" / args.slug, replay=True)
    print(f"timeline written to {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
