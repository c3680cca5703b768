#!/usr/bin/env python3
"""C2ST and density/coverage of shipped generators, against a chosen copy of their datasets.

Computes exactly the figures ``effigies eval`` writes into ``metrics.json`` (same latents:
the first ``--images`` of eval's 10,000; same real subset: eval's seeded 4,096, cut to
``--images`` inside each measure), without SWD or fingerprints, and writes them to a JSON
file in benchmarks/ instead of touching the generators' folders. Made to keep the figures
of today's generators ("before") next to those of their successors::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_quality.py \\
        --datasets var/datasets-old --out benchmarks/quality_before.json

``--datasets`` holds one folder per theme, as built by scripts/build_dataset.py; each is
checked against the generator's training_fingerprints.safetensors (same images, same
SHA-256), so a figure is never measured against a set the generator was not trained on.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from benchlib import machine, write_result
from effigies.gan.checkpoint import GENERATOR_META, load_generator
from effigies.gan.data import list_images
from effigies.gan.quality import C2ST_BATCH, C2ST_LR, C2ST_STEPS, FEATURE_CHANNELS, NEAREST_K
from effigies.gan.sample import composite, latents, sample
from effigies.training.evaluate import (
    DEFAULT_QUALITY_IMAGES,
    DEFAULT_SAMPLES,
    DEFAULT_SWD_IMAGES,
    load_real_images,
    quality_figures,
)
from effigies.uniqueness.training_set import dataset_sha256, read_training_fingerprints

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "effigies" / "themes" / "pretrained"
THEMES = ("galactic-droids", "pixel-heroes", "emoji-folk", "arcane-sigils")


def real_vs_real(data: Path, *, images: int, seed: int) -> dict:
    """The same figures for two disjoint halves of the training set: what a perfect generator would score
    at this N (C2ST 0.5, density about 1, coverage about 0.97); halves of 2,032 for Emoji folk's 4,064."""
    real = load_real_images(data, n=2 * images, seed=seed + 1)
    # load_real_images keeps file-name order (all of Emoji folk's, sorted by icon set): shuffle first.
    real = real[np.random.default_rng(seed + 1).permutation(len(real))]
    half = len(real) // 2
    timings: dict[str, float] = {}
    return {**quality_figures(real[:half], real[half : 2 * half], seed=seed, timings=timings), "seconds": timings}


def measure(slug: str, weights: Path, data: Path, *, images: int, seed: int, reference: bool) -> dict:
    paths = list_images(data)
    trained_on = read_training_fingerprints(weights)
    digest = dataset_sha256(paths)
    if digest != trained_on.dataset_sha256:
        raise SystemExit(f"{data} is not the set {slug}'s generator was fingerprinted on "
                         f"(sha256 {digest[:12]} vs {trained_on.dataset_sha256[:12]})")
    meta = json.loads((weights / GENERATOR_META).read_text(encoding="utf-8"))
    started = time.perf_counter()
    real = load_real_images(data, n=max(DEFAULT_SWD_IMAGES, images), seed=seed)
    loading = time.perf_counter() - started
    step = time.perf_counter()
    generator, config = load_generator(weights)
    # effigies eval draws 10,000 latents and keeps the first images: the same ones here.
    fake = composite(sample(generator, latents(DEFAULT_SAMPLES, config.nz, seed=seed)[:images]))
    timings = {"loading_training_images": round(loading, 1), "sampling": round(time.perf_counter() - step, 1)}
    figures = quality_figures(real, fake, seed=seed, timings=timings)
    result = {
        "theme": slug,
        "generator_sha256": meta.get("weights_sha256"),
        **figures,
        "seconds": timings,
        "dataset": {"path": str(data), "images": len(paths), "sha256": digest,
                    "matches_training_fingerprints": True},
    }
    if reference:
        result["real_vs_real"] = real_vs_real(data, images=images, seed=seed)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=ROOT / "var" / "datasets", help="one folder per theme")
    parser.add_argument("--pretrained", type=Path, default=PRETRAINED, help="one generator folder per theme")
    parser.add_argument("--theme", action="append", choices=THEMES, help="repeatable; default all four")
    parser.add_argument("--images", type=int, default=DEFAULT_QUALITY_IMAGES, help="images per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                        help="also score two disjoint halves of each training set (the ceiling)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "quality.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    console = Console()
    load_before = list(os.getloadavg())
    results = []
    for slug in args.theme or THEMES:
        with console.status(f"{slug}: C2ST and density/coverage"):
            results.append(measure(slug, args.pretrained / slug, args.datasets / slug, images=args.images,
                                   seed=args.seed, reference=args.reference))
        r = results[-1]
        console.print(f"{slug}: C2ST {r['c2st_accuracy']:.4f} ({r['c2st_loss_bits']:.3f} bits), density "
                      f"{r['density']:.4f}, coverage {r['coverage']:.4f}; seconds {r['seconds']}")
    table = Table(title="C2ST and density/coverage")
    for col in ("theme", "C2ST accuracy", "C2ST loss (bits)", "density", "coverage", "N", "C2ST s", "D&C s"):
        table.add_column(col, justify="left" if col == "theme" else "right")
    for r in results:
        for name, row in ((r["theme"], r), ("  real vs real", r.get("real_vs_real"))):
            if row:
                table.add_row(name, f"{row['c2st_accuracy']:.4f}", f"{row['c2st_loss_bits']:.3f}",
                              f"{row['density']:.4f}", f"{row['coverage']:.4f}", f"{row['quality_images']:,}",
                              f"{row['seconds']['c2st']:.1f}", f"{row['seconds']['density_coverage']:.1f}")
    console.print(table)
    write_result(args.out, {
        "machine": machine(threads=args.threads, torch=torch.__version__, load_average_before=load_before,
                           load_average_after=list(os.getloadavg())),
        "seed": args.seed,
        "settings": {"c2st_steps": C2ST_STEPS, "c2st_batch": C2ST_BATCH, "c2st_lr": C2ST_LR, "k": NEAREST_K,
                     "feature_channels": list(FEATURE_CHANNELS)},
        "results": results,
    }, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
