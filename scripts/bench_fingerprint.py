#!/usr/bin/env python3
"""Fingerprint study for the uniqueness registry, on every shipped theme.

Three fingerprints: imagehash's pHash of luma at 64 and 256 bits, and ours
(effigies.uniqueness.fingerprint: 256-bit pHash of the HSV value channel).
For each theme and fingerprint it measures the nearest-neighbour distance of
  - fresh samples among themselves (what decides how many can be sold),
  - real training images among themselves (what the fingerprint can tell apart at best),
and the distance between an image and
  - the same latent nudged by N(0, 0.05^2) (the "same image, slightly changed" R must catch),
  - its recolour (hue rotated 120 degrees: a knock-off the registry should refuse).
Prints a table, writes benchmarks/fingerprint.json and draws the histograms into
docs/fingerprint-<theme>.svg, with one example per theme in docs/fingerprint-examples.png; the fingerprint and the radius were chosen from these numbers.

    .venv/bin/python scripts/bench_fingerprint.py --samples 2000
"""
from __future__ import annotations

import argparse
from pathlib import Path

import imagehash
import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import track
from rich.table import Table

from benchlib import machine, write_result
from effigies.config import get_settings
from effigies.gan.checkpoint import load_generator
from effigies.gan.data import list_images, load_image
from effigies.gan.sample import latents, sample
from effigies.uniqueness.fingerprint import distances, fingerprints
from svgchart import histogram_svg

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "effigies" / "themes" / "pretrained"


def _luma(hash_size: int):
    def bits(images: list[Image.Image]) -> np.ndarray:
        return np.array([imagehash.phash(im, hash_size=hash_size).hash.flatten() for im in images], dtype=bool)

    return bits


def _ours(images: list[Image.Image]) -> np.ndarray:
    return np.unpackbits(fingerprints(images), axis=1).astype(bool)


FINGERPRINTS = {"luma64": (_luma(8), 64), "luma256": (_luma(16), 256), "value256": (_ours, 256)}


def nearest(h: np.ndarray) -> np.ndarray:
    """Each row's distance to its nearest other row (the registry's distance code, in chunks)."""
    packed = np.packbits(h, axis=1)
    out = np.empty(len(h), dtype=np.int32)
    for start in range(0, len(h), 256):
        d = distances(packed[start : start + 256], packed)
        d[np.arange(len(d)), start + np.arange(len(d))] = 1 << 20
        out[start : start + len(d)] = d.min(1)
    return out


def recolour(image: Image.Image) -> Image.Image:
    h, s, v = image.convert("HSV").split()
    h = h.point(lambda x: (x + 85) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB")


EXAMPLES: dict[str, list[tuple[Image.Image, str]]] = {}


def example_row(fresh, nudged, recoloured) -> list[tuple[Image.Image, str]]:
    """Sample 0 beside its nudged latent, its recolour and its nearest other fresh sample,
    each with its distance under the luma and the brightness 256-bit fingerprints."""
    luma, ours = FINGERPRINTS["luma256"][0], FINGERPRINTS["value256"][0]
    h = ours(fresh)
    others = (h[1:] != h[0]).sum(1)
    nearest_other = fresh[1 + int(others.argmin())]
    row = [(fresh[0], "sample")]
    for image, what in ((nudged[0], "nudged latent"), (recoloured[0], "recolour"), (nearest_other, "nearest other")):
        pair = [fresh[0], image]
        row.append((image, f"{what}: {(luma(pair)[0] != luma(pair)[1]).sum()} / {(ours(pair)[0] != ours(pair)[1]).sum()}"))
    return row


def examples_png(rows: dict[str, list[tuple[Image.Image, str]]], path: Path) -> None:
    """One row per theme: 128-px images, captions "luma / brightness" bit distances."""
    from PIL import ImageDraw

    cell_w, cell_h, left = 150, 150, 110
    sheet = Image.new("RGB", (left + 4 * cell_w, 24 + cell_h * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((left, 6), "Hamming distance to the sample, 256-bit luma pHash / 256-bit brightness (ours); R = 20", fill="black")
    for r, (slug, row) in enumerate(rows.items()):
        y = 24 + r * cell_h
        draw.text((4, y + 56), slug, fill="black")
        for c, (image, caption) in enumerate(row):
            sheet.paste(image.resize((128, 128), Image.Resampling.NEAREST), (left + c * cell_w, y))
            draw.text((left + c * cell_w, y + 130), caption, fill="black")
    sheet.save(path, optimize=True)


def pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q))


def study(slug: str, n: int, data_root: Path) -> dict:
    generator, config = load_generator(PRETRAINED / slug)
    z = latents(n, config.nz, seed=0)
    with torch.inference_mode():
        fresh = [Image.fromarray(a) for a in sample(generator, z)]
        k = min(300, n)
        nudged = [Image.fromarray(a) for a in sample(generator, z[:k] + 0.05 * latents(k, config.nz, seed=1))]
    paths = list_images(data_root / slug)
    rng = np.random.default_rng(0)
    if len(paths) > n:
        paths = [paths[i] for i in sorted(rng.choice(len(paths), size=n, replace=False))]
    real = [Image.fromarray(load_image(p)) for p in paths]
    out: dict = {"samples": n, "real": len(real), "nudged": k}
    recoloured = [recolour(im) for im in fresh[:k]]
    EXAMPLES[slug] = example_row(fresh, nudged, recoloured)
    for name, (bits, size) in FINGERPRINTS.items():
        hf, hr, hn, hc = bits(fresh), bits(real), bits(nudged), bits(recoloured)
        nn_fresh, nn_real = nearest(hf), nearest(hr)
        d_nudged = (hf[:k] != hn).sum(1)
        d_recolour = (hf[:k] != hc).sum(1)
        out[name] = {
            "nn_fresh": {"p5": pct(nn_fresh, 5), "median": pct(nn_fresh, 50)},
            "nn_real": {"p5": pct(nn_real, 5), "median": pct(nn_real, 50)},
            "nudged": {"median": pct(d_nudged, 50), "p90": pct(d_nudged, 90)},
            "recolour": {"median": pct(d_recolour, 50), "p90": pct(d_recolour, 90)},
            "hist_nn_fresh": np.bincount(nn_fresh, minlength=size + 1).tolist(),
            "hist_nn_real": np.bincount(nn_real, minlength=size + 1).tolist(),
            "hist_nudged": np.bincount(d_nudged, minlength=size + 1).tolist(),
            "hist_recolour": np.bincount(d_recolour, minlength=size + 1).tolist(),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "datasets")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "fingerprint.json")
    args = parser.parse_args()
    slugs = sorted(p.name for p in PRETRAINED.iterdir() if (p / "generator.safetensors").is_file())
    missing = [s for s in slugs if not (args.data / s).is_dir()]
    if missing:
        parser.error(f"datasets missing under {args.data}: {', '.join(missing)} (effigies dataset build NAME)")
    results = {slug: study(slug, args.samples, args.data) for slug in track(slugs, description="themes")}
    table = Table(title=f"pHash nearest-neighbour and same-image distances ({args.samples} per set)")
    for col in ("theme", "fingerprint", "NN fresh p5 / med", "NN real p5 / med", "nudged med / p90", "recolour med / p90"):
        table.add_column(col)
    for slug, r in results.items():
        for name in FINGERPRINTS:
            m = r[name]
            table.add_row(slug, name,
                          f"{m['nn_fresh']['p5']:.0f} / {m['nn_fresh']['median']:.0f}",
                          f"{m['nn_real']['p5']:.0f} / {m['nn_real']['median']:.0f}",
                          f"{m['nudged']['median']:.0f} / {m['nudged']['p90']:.0f}",
                          f"{m['recolour']['median']:.0f} / {m['recolour']['p90']:.0f}")
    console = Console()
    console.print(table)
    examples_png(EXAMPLES, ROOT / "docs" / "fingerprint-examples.png")
    radius = get_settings().uniqueness_radius
    for slug, r in results.items():
        m = r["value256"]
        series = {"fresh samples, nearest other": m["hist_nn_fresh"], "real images, nearest other": m["hist_nn_real"],
                  "nudged latent": m["hist_nudged"], f"recolour (hue +120°), {m['hist_recolour'][0] / sum(m['hist_recolour']):.0%} at 0": m["hist_recolour"]}
        svg = histogram_svg(series, title=f"{slug}: 256-bit brightness fingerprint distances",
                            x_label="Hamming distance (bits, bins of 2)", marker=(radius + 1, f"R = {radius}"),
                            bin_width=2, y_max=0.5)
        (ROOT / "docs" / f"fingerprint-{slug}.svg").write_text(svg)
    write_result(args.out, {"machine": machine(), "samples": args.samples, "themes": results}, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
