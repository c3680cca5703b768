#!/usr/bin/env python3
"""Theme capacity: how many avatars a theme can sell before half of its fresh samples are refused.

    .venv/bin/python scripts/bench_capacity.py                      # every shipped theme
    .venv/bin/python scripts/bench_capacity.py --themes pixel-heroes --sell 20000

Simulation, as the product runs: the registry starts with the theme's training images
(training_fingerprints.safetensors); then batches of fresh samples are fingerprinted, each
one refused if a registered fingerprint (or an earlier one of its batch) lies within R, and
every accepted one is sold (registered) — the worst case, where every offer is bought.
It stops after --sell sales or when half of a batch is refused.

A theme that can sell a million cannot be simulated to a million on a laptop, so the
curve is extrapolated: a fresh sample is refused with probability 1 - exp(-p n) when n
fingerprints are registered, p being the chance that two independent samples lie within R.
p is fitted (maximum likelihood) on the whole simulated curve; capacity = ln 2 / p, the
registry size where half are refused. With no refusal at all, p is bounded by the rule of
three (95 %), so the capacity is a lower bound. Generators pack some modes denser than
others; those fill up first, so the early curve overstates p and the estimate errs low.
Prints a table, writes benchmarks/capacity.json (merged per theme) and docs/capacity.svg.
"""
from __future__ import annotations

import argparse
import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from benchlib import machine, write_result
from effigies.config import get_settings
from effigies.gan.checkpoint import load_generator
from effigies.gan.sample import latents, sample
from effigies.uniqueness.fingerprint import distances, fingerprints
from effigies.uniqueness.training_set import read_training_fingerprints
from svgchart import line_svg

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "effigies" / "themes" / "pretrained"


def min_distance(queries: np.ndarray, stored: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Each query's distance to its nearest stored fingerprint (the registry's distance code)."""
    out = np.full(len(queries), 1 << 20, dtype=np.int64)
    for start in range(0, len(stored), chunk):
        np.minimum(out, distances(queries, stored[start : start + chunk]).min(1), out=out)
    return out


def fit_p(points: list[tuple[int, int, int]]) -> tuple[float, bool]:
    """MLE of p from (registered n, batch size, refused k); (upper bound, True) if k is always 0."""
    if sum(k for _, _, k in points) == 0:
        return 3.0 / sum(n * b for n, b, _ in points), True

    def loglik(p: float) -> float:
        total = 0.0
        for n, b, k in points:
            q = math.exp(-p * n)
            total += k * math.log(max(1e-300, 1 - q)) + (b - k) * (-p * n)
        return total

    lo, hi = 1e-14, 1e-1
    for _ in range(200):  # golden-section search on log p
        a, b = lo * (hi / lo) ** 0.382, lo * (hi / lo) ** 0.618
        if loglik(a) < loglik(b):
            lo = a
        else:
            hi = b
    return math.sqrt(lo * hi), False


def simulate(slug: str, *, sell: int, batch: int, radius: int, progress: Progress) -> dict:
    generator, config = load_generator(PRETRAINED / slug)
    training = read_training_fingerprints(PRETRAINED / slug).values
    stored = training
    sold, step, seed = 0, [], 0
    task = progress.add_task(slug, total=sell)
    with torch.inference_mode():
        while sold < sell:
            images = sample(generator, latents(batch, config.nz, seed=10_000 + seed))
            seed += 1
            words = fingerprints(Image.fromarray(a) for a in images)
            near_registry = min_distance(words, stored) <= radius
            accepted = []
            for i in np.flatnonzero(~near_registry):  # earlier accepted ones of the batch count too
                if not accepted or min_distance(words[i : i + 1], words[accepted])[0] > radius:
                    accepted.append(i)
            refused = batch - len(accepted)
            step.append((len(stored), batch, refused))
            stored = np.concatenate([stored, words[accepted]])
            sold += len(accepted)
            progress.update(task, completed=min(sold, sell))
            if refused * 2 >= batch:
                break
    p, bound = fit_p(step)
    return {
        "training_images": int(len(training)),
        "sold_simulated": sold,
        "samples_drawn": seed * batch,
        "refused_last_batch": step[-1][2] / batch,
        "refused_total": sum(k for _, _, k in step) / (seed * batch),
        "p_pair": p,
        "p_is_upper_bound": bound,
        "capacity": math.log(2) / p - len(training),
        "capacity_is_lower_bound": bound,
        "curve": [{"registered": n, "refused": k / b} for n, b, k in step],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--themes", nargs="+")
    parser.add_argument("--sell", type=int, default=50_000, help="simulated sales per theme (default 50,000)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--radius", type=int, default=get_settings().uniqueness_radius)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "capacity.json")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "capacity.svg")
    args = parser.parse_args()
    torch.set_num_threads(1)
    slugs = args.themes or sorted(p.name for p in PRETRAINED.iterdir() if (p / "generator.safetensors").is_file())
    console = Console()
    previous = json.loads(args.out.read_text())["themes"] if args.out.is_file() else {}
    with Progress(console=console) as progress:
        results = {slug: simulate(slug, sell=args.sell, batch=args.batch, radius=args.radius, progress=progress)
                   for slug in slugs}
    # Each theme keeps the date it was measured: a run for some themes merges into the file.
    measured_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for r in results.values():
        r["measured_at"] = measured_at
    merged = {**previous, **results}
    table = Table(title=f"Theme capacity at R = {args.radius} of 256 bits (every accepted sample sold)")
    for col in ("theme", "sold (simulated)", "refused: all / last batch", "p (pair within R)", "capacity"):
        table.add_column(col, justify="right")
    for slug, r in sorted(merged.items()):
        cap = f"{'≥ ' if r['capacity_is_lower_bound'] else '≈ '}{r['capacity']:,.0f}"
        table.add_row(slug, f"{r['sold_simulated']:,}", f"{r['refused_total']:.2%} / {r['refused_last_batch']:.1%}",
                      f"{'< ' if r['p_is_upper_bound'] else ''}{r['p_pair']:.2e}", cap)
    console.print(table)
    series = {slug: [(c["registered"], c["refused"]) for c in r["curve"]] for slug, r in sorted(merged.items())}
    args.chart.write_text(line_svg(
        series, title=f"Share of fresh samples refused as the registry fills (R = {args.radius})",
        x_label="fingerprints registered (training images + simulated sales)", y_label="refused",
        y_max=0.1 if max(c["refused"] for r in merged.values() for c in r["curve"]) < 0.1 else 1.0,
        hline=(0.5, "half refused: capacity") if any(c["refused"] >= 0.05 for r in merged.values() for c in r["curve"]) else None,
    ))
    write_result(args.out, {"machine": machine(), "radius": args.radius, "batch": args.batch, "themes": merged}, console)
    # The admin themes table shows each theme's capacity from its metrics.json (shipped with the package).
    from effigies.training.evaluate import record_capacity

    for slug, r in results.items():
        record_capacity(PRETRAINED / slug, capacity=r["capacity"], lower_bound=r["capacity_is_lower_bound"],
                        radius=args.radius, measured_at=measured_at)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
