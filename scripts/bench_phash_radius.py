#!/usr/bin/env python3
"""Measure 64-bit pHash distances for a theme, to choose the uniqueness radius R.

Compares: distinct fresh samples, the same latents nudged a little (what R must catch), and
distinct training images. Prints a table and writes benchmarks/phash_radius.json.

    .venv/bin/python scripts/bench_phash_radius.py --weights effigies/themes/pretrained/galactic-droids \
        --data var/datasets/galactic-droids
"""
from __future__ import annotations

import argparse
from pathlib import Path

import imagehash
import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from benchlib import machine, write_result
from effigies.gan.checkpoint import load_generator
from effigies.gan.sample import latents, sample

ROOT = Path(__file__).resolve().parents[1]


def hashes(images) -> np.ndarray:
    return np.array([imagehash.phash(im).hash.flatten() for im in images])


def pairwise(h: np.ndarray) -> np.ndarray:
    d = (h[:, None, :] != h[None, :, :]).sum(-1)
    return d[np.triu_indices(len(h), 1)]


def greedy_capacity(h: np.ndarray, radius: int) -> int:
    """How many of these samples could be sold, one after another, at this radius."""
    kept: list[np.ndarray] = []
    for row in h:
        if all((row != k).sum() > radius for k in kept):
            kept.append(row)
    return len(kept)


def summary(d: np.ndarray) -> dict[str, float]:
    return {
        "median": float(np.median(d)),
        "p1": float(np.percentile(d, 1)),
        **{f"share_le_{r}": float((d <= r).mean()) for r in (2, 4, 6)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=ROOT / "effigies/themes/pretrained/galactic-droids")
    parser.add_argument("--data", type=Path, default=ROOT / "var/datasets/galactic-droids")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "phash_radius.json")
    args = parser.parse_args()

    generator, config = load_generator(args.weights)
    z = latents(args.n, config.nz, seed=1)
    fresh = hashes(Image.fromarray(a) for a in sample(generator, z))
    results: dict[str, dict[str, float]] = {"distinct samples": summary(pairwise(fresh))}
    for sigma in (0.05, 0.15):
        nudged = hashes(Image.fromarray(a) for a in sample(generator, z + sigma * torch.randn_like(z)))
        d = (fresh != nudged).sum(-1)
        results[f"same latent nudged by N(0, {sigma}²)"] = {
            "median": float(np.median(d)), "p90": float(np.percentile(d, 90)), "max": float(d.max())}
    files = sorted(p for p in args.data.glob("*.png"))[: args.n]
    if files:
        real = hashes(Image.open(p).convert("RGB") for p in files)
        results["distinct training images"] = summary(pairwise(real))
    results["greedy capacity of the samples"] = {f"R={r}": greedy_capacity(fresh, r) for r in (2, 4, 6)}

    table = Table(title=f"64-bit pHash distances ({args.n} images each)")
    table.add_column("set")
    table.add_column("figures")
    for name, figures in results.items():
        table.add_row(name, ", ".join(f"{k} {v:.3g}" for k, v in figures.items()))
    console = Console()
    console.print(table)
    payload = {
        "machine": machine(),
        "weights": str(args.weights.relative_to(ROOT) if args.weights.is_relative_to(ROOT) else args.weights),
        "n": args.n,
        "results": results,
    }
    write_result(args.out, payload, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
