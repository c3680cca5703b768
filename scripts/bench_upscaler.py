#!/usr/bin/env python3
"""What a theme's upscaler buys: SWD at 256 px, CPU per avatar, size on disk, and a contact sheet.

    .venv/bin/python scripts/bench_upscaler.py                      # every theme with an upscaler
    .venv/bin/python scripts/bench_upscaler.py galactic-droids --samples 1000

Per theme: ``--samples`` fresh generator samples (latents 0.. of seed 1, not the README's
seed 0), each made into its 256 px master (a) by Lanczos from the 64 px image, as every size
above 64 was before, and (b) by the theme's upscaler (effigies.generation.master, the code the
shop runs). Both sets are compared with the crisp 256 px renders of the training art
(var/datasets/<slug>-256) by the multi-scale SWD of effigies.gan.metrics extended to
256/128/64/32/16 (512 directions per level), all composited on white (the fingerprint's composite). CPU per avatar is
process time of the whole upscale call, one thread, median of 200.

Writes benchmarks/upscaler.json (merged per theme) and docs/upscale/<slug>.webp: 8 samples at
256 px, Lanczos row, upscaler row, then 8 training images rendered at 256, on dark and light.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from effigies.generation.master import MASTER_SIZE, UPSCALER_FILE, make_master  # noqa: E402
from effigies.gan.alpha import composite  # noqa: E402
from effigies.gan.checkpoint import load_generator  # noqa: E402
from effigies.gan.data import list_images  # noqa: E402
from effigies.gan.metrics import swd  # noqa: E402
from effigies.gan.sample import latents, sample  # noqa: E402
from effigies.gan.upscale import load_upscaler  # noqa: E402
from effigies.generation.preview import font  # noqa: E402
from effigies.themes.service import BUILTIN_THEMES, PRETRAINED_DIR  # noqa: E402

OUT_JSON = ROOT / "benchmarks" / "upscaler.json"
SHEETS = ROOT / "docs" / "upscale"
DARK, LIGHT = (49, 51, 56), (255, 255, 255)


def white(images: list[Image.Image]) -> np.ndarray:
    """PIL images -> uint8 NHWC RGB on the fingerprint's white composite."""
    arr = [np.asarray(im.convert("RGBA")) for im in images]
    return np.stack([composite(a) for a in arr])


def real_renders(slug: str, n: int) -> list[Image.Image]:
    paths = list_images(ROOT / "var" / "datasets" / f"{slug}-256")
    if not paths:
        raise SystemExit(f"error: no 256 px renders in var/datasets/{slug}-256 (scripts/build_dataset.py {slug} --size 256)")
    step = max(1, len(paths) // n)
    return [Image.open(p).convert("RGBA") for p in paths[::step][:n]]


def cpu_ms(folder: Path, image: Image.Image) -> float:
    torch.set_num_threads(1)
    network = load_upscaler(folder)
    arr = np.asarray(image)
    network(arr)
    times = []
    for _ in range(200):
        t = time.process_time()
        network(arr)
        times.append((time.process_time() - t) * 1e3)
    return statistics.median(times)


def contact_sheet(title: str, rows: list[tuple[str, list[Image.Image]]]) -> Image.Image:
    size, gap, label = MASTER_SIZE, 12, 34
    per_row = len(rows[0][1])
    width = per_row * size + (per_row + 1) * gap
    band = label + size + gap
    out = Image.new("RGBA", (width, 40 + 2 * len(rows) * band), (*DARK, 255))
    draw = ImageDraw.Draw(out)
    draw.text((gap, 10), f"{title}: 256 px masters, dark then light", font=font(20), fill=LIGHT)
    y = 40
    for colour, ink in ((DARK, LIGHT), (LIGHT, DARK)):
        for name, images in rows:
            out.paste(Image.new("RGBA", (width, band), (*colour, 255)), (0, y))
            draw.text((gap, y + 8), name, font=font(18), fill=ink)
            for i, im in enumerate(images):
                out.alpha_composite(im.convert("RGBA"), (gap + i * (size + gap), y + label))
            y += band
    return out.convert("RGB")


def bench(slug: str, samples: int) -> dict:
    folder = PRETRAINED_DIR / slug
    if not (folder / UPSCALER_FILE).is_file():
        raise SystemExit(f"error: {slug} ships no upscaler ({folder / UPSCALER_FILE})")
    generator, config = load_generator(folder)
    small = [Image.fromarray(a) for a in sample(generator, latents(samples, config.nz, seed=1))]
    lanczos = [make_master(im, pixel_art=False, weights_dir=None) for im in small]
    t0 = time.perf_counter()
    upscaled = [make_master(im, pixel_art=False, weights_dir=folder) for im in small]
    wall = time.perf_counter() - t0
    real = real_renders(slug, samples)
    n = min(len(real), samples)
    ref = white(real[:n])
    result = {"samples": n, "nc": config.nc}
    for name, images in (("lanczos", lanczos), ("upscaler", upscaled)):
        # 512 directions (one repeat of effigies eval's four): at 256 px the sorts cost ~4x more
        # per level than at 64, and the two pipelines differ by far more than the metric's noise.
        r = swd(ref, white(images[:n]), seed=0, min_resolution=16, dir_repeats=1)
        result[name] = r.to_dict()
        print(f"  {slug:16s} {name:9s} SWD@256 {r.average:8.2f}  levels {r.to_dict()['levels']}", flush=True)
    result["reduction"] = round(1 - result["upscaler"]["average"] / result["lanczos"]["average"], 4)
    result["cpu_ms_per_avatar"] = round(cpu_ms(folder, small[0]), 3)
    result["wall_ms_per_master"] = round(1e3 * wall / len(small), 3)
    result["bytes_on_disk"] = (folder / UPSCALER_FILE).stat().st_size + (folder / "upscaler.json").stat().st_size
    result["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    SHEETS.mkdir(parents=True, exist_ok=True)
    sheet = contact_sheet(slug, [("Lanczos from 64 px (before)", lanczos[:8]), ("theme upscaler (now)", upscaled[:8]),
                                 ("training art rendered at 256 px", real[:8])])
    # WebP at quality 92: a 2,156 x 1,852 sheet is 1.8 MB as PNG, ~10x less as WebP, with no visible change.
    sheet.save(SHEETS / f"{slug}.webp", quality=92, method=6)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("slugs", nargs="*")
    parser.add_argument("--samples", type=int, default=600)
    args = parser.parse_args(argv)
    slugs = args.slugs or [s.slug for s in BUILTIN_THEMES if (PRETRAINED_DIR / s.slug / UPSCALER_FILE).is_file()]
    if not slugs:
        raise SystemExit("error: no shipped theme has an upscaler yet")
    torch.set_num_threads(1)
    results = {slug: bench(slug, args.samples) for slug in slugs}
    # Read just before writing: runs for other themes may have finished meanwhile.
    data = json.loads(OUT_JSON.read_text()) if OUT_JSON.is_file() else {"themes": {}}
    data["themes"].update(results)
    data["machine"] = f"{platform.machine()} {platform.processor() or ''} {torch.get_num_threads()} thread".strip()
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\n{'theme':16s} {'Lanczos':>9s} {'upscaler':>9s} {'change':>8s} {'CPU ms':>7s} {'bytes':>8s}")
    for slug, r in data["themes"].items():
        print(f"{slug:16s} {r['lanczos']['average']:9.2f} {r['upscaler']['average']:9.2f} "
              f"{-100 * r['reduction']:+7.1f}% {r['cpu_ms_per_avatar']:7.2f} {r['bytes_on_disk']:8d}")
    print(f"wrote {OUT_JSON.relative_to(ROOT)} and {SHEETS.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
