#!/usr/bin/env python3
"""The recipe study: which training recipe draws the best pictures on this CPU, measured.

Each arm is one recipe (today's, or the new base with one change). Every arm trains from the
same seed on the same dataset for the same budget of training time on one thread, with the
trainer's precision (bf16 autocast where the CPU has native bf16, as `effigies train`); every
``--eval-every`` images the EMA generator (BatchNorm statistics recomputed, as shipped) is
sampled and scored with SWD against a fixed subset of the training images. Evaluation time is
not counted as training time, so the curves give SWD against training wall-clock *and*
against images seen: "equal wall-clock" compares each arm's last score within the budget,
"equal images" compares all arms at the largest image count every arm reached. At the end of
each arm, diversity (share of 2,000 fresh samples with no other within the registry radius)
and a grid of latents 0-63 of seed 0 are recorded.

Training time is the CPU time of the one training thread (``time.process_time``), not the
clock on the wall: the study shares this 2-core machine with other runs, and CPU time is what
an arm would take on a core of its own (every arm would otherwise be charged for its
neighbours).

    python scripts/bench_recipes.py --dataset emoji-folk --minutes 4
    python scripts/bench_recipes.py --dataset galactic-droids --arms today,sn-hinge

Results are merged into benchmarks/recipes.json (one entry per dataset and arm) and drawn in
docs/recipes-<dataset>.svg; grids go to var/recipes/<dataset>/<arm>.png. SWD here uses 1,024
images per set and fewer directions than ``effigies eval`` (a study figure, comparable
between arms of this file, not with the README's table).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import machine, write_result  # noqa: E402
from svgchart import line_svg  # noqa: E402

from effigies.gan.augment import parse_policy  # noqa: E402
from effigies.gan.config import DCGANConfig  # noqa: E402
from effigies.gan.data import BatchSampler, learn_palette, load_image_folder, normalize  # noqa: E402
from effigies.gan.ema import GeneratorEMA  # noqa: E402
from effigies.gan.metrics import swd  # noqa: E402
from effigies.gan.model import build_models, recalibrate_batchnorm  # noqa: E402
from effigies.gan.runtime import resolve_precision  # noqa: E402
from effigies.gan.sample import composite, latents, sample, save_grid  # noqa: E402
from effigies.gan.step import LeCamState, train_step  # noqa: E402
from effigies.training.evaluate import diversity  # noqa: E402
from effigies.uniqueness import fingerprint as fp  # noqa: E402

OUT = ROOT / "benchmarks" / "recipes.json"
AUGMENT = "color,translation,cutout"
RADIUS = 20


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    what: str
    model: dict = dataclasses.field(default_factory=dict)
    loss: str = "bce"
    real_label: float = 0.9
    instance_noise: float = 0.1
    diffaugment: str = AUGMENT
    ema_images: int = 10_000
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    r1_gamma: float = 0.0
    lecam: float = 0.0
    batch_size: int = 128


TODAY = Arm("today", "today's recipe: BatchNorm D, BCE, label smoothing 0.9, instance noise, EMA, DiffAugment",
            model={"ngf": 32, "ndf": 32})
# The new base every other arm changes one thing of: spectral norm in D instead of its
# BatchNorm, hinge loss (label smoothing and instance noise are BCE-era crutches, off).
SN = dict(ngf=32, ndf=32, d_norm="spectral")
BASE = dict(model=SN, loss="hinge", real_label=1.0, instance_noise=0.0)
ARMS = {a.name: a for a in (
    TODAY,
    Arm("today-no-diffaug", "today's recipe without DiffAugment", model={"ngf": 32, "ndf": 32}, diffaugment=""),
    Arm("sn-ns", "spectral norm in D, non-saturating BCE loss (no smoothing, no instance noise)",
        model=SN, real_label=1.0, instance_noise=0.0),
    Arm("sn-hinge", "spectral norm in D, hinge loss", **BASE),
    Arm("sn-hinge-no-diffaug", "sn-hinge without DiffAugment", **{**BASE, "diffaugment": ""}),
    Arm("r1", "sn-hinge + lazy R1 (gamma 0.1, every 16 steps)", **BASE, r1_gamma=0.1),
    Arm("ttur", "sn-hinge + two time-scale rates (D 4e-4, G 1e-4)", **BASE, lr_g=1e-4, lr_d=4e-4),
    Arm("lecam", "sn-hinge + LeCam (0.3)", **BASE, lecam=0.3),
    Arm("mbstd", "sn-hinge + minibatch stddev in D", **{**BASE, "model": {**SN, "mbstd": True}}),
    Arm("mirror", "sn-hinge + mirror symmetry (G draws the left half)", **{**BASE, "model": {**SN, "mirror": True}}),
    Arm("w48", "sn-hinge at width 48", **{**BASE, "model": {**SN, "ngf": 48, "ndf": 48}}),
    Arm("w64", "sn-hinge at width 64 (the paper's)", **{**BASE, "model": {**SN, "ngf": 64, "ndf": 64}}),
    Arm("batch64", "sn-hinge with batch 64 (twice the updates per image; our own idea)", **BASE, batch_size=64),
)}


def load_data(slug: str, channels: int, size: int = 64) -> torch.Tensor:
    return load_image_folder(ROOT / "var" / "datasets" / slug, size, channels=channels)


def as_rgb(images_nchw_uint8: torch.Tensor) -> np.ndarray:
    return composite(images_nchw_uint8.permute(0, 2, 3, 1).numpy())


def eval_generator(g: torch.nn.Module, z: torch.Tensor, real_rgb: np.ndarray) -> float:
    shipped = copy.deepcopy(g)
    recalibrate_batchnorm(shipped, n_batches=8, batch_size=128, seed=0, device="cpu")
    fake = composite(sample(shipped, z))
    return swd(real_rgb, fake, nhoods_per_image=64, dir_repeats=2, dirs_per_repeat=128).average


def run_arm(arm: Arm, data: torch.Tensor, real_rgb: np.ndarray, *, budget_s: float, eval_every: int,
            grid_dir: Path, progress: Progress, seed: int = 0, grid: dict | None = None) -> dict:
    config = DCGANConfig(nc=int(data.shape[1]), **{**arm.model, **(grid or {})})
    if config.palette:
        netG_palette = learn_palette(data, config.palette, seed=seed)
    netG, netD = build_models(config, seed=seed)
    if config.palette:
        netG.palette.copy_(netG_palette)
    fmt = torch.channels_last
    netG.to(memory_format=fmt)
    netD.to(memory_format=fmt)
    optG = torch.optim.Adam(netG.parameters(), lr=arm.lr_g, betas=(0.5, 0.999))
    optD = torch.optim.Adam(netD.parameters(), lr=arm.lr_d, betas=(0.5, 0.999))
    ema = GeneratorEMA(netG, half_life_images=arm.ema_images)
    sampler = BatchSampler(int(data.shape[0]), arm.batch_size, seed=seed)
    rng = torch.Generator().manual_seed(seed + 7919)
    lecam = LeCamState()
    augment = parse_policy(arm.diffaugment)
    z_eval = latents(1024, config.nz, seed=123)
    curve: list[dict] = []
    train_s, images, step, next_eval = 0.0, 0, 0, eval_every
    task = progress.add_task(arm.name, total=budget_s)
    precision = resolve_precision("auto", torch.device("cpu"))
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
    while train_s < budget_s:
        t0 = time.process_time()
        real = normalize(data[sampler.next()]).contiguous(memory_format=fmt)
        b = real.shape[0]
        noise = torch.randn(b, config.nz, 1, 1, generator=rng)
        sigma = arm.instance_noise * max(0.0, 1.0 - images / 200_000) if arm.instance_noise else 0.0
        train_step(
            netG=netG, netD=netD, optG=optG, optD=optD, real=real, noise=noise, rng=rng,
            real_label=arm.real_label, instance_noise=sigma, augment=augment, memory_format=fmt, autocast=autocast,
            loss=arm.loss, r1_gamma=arm.r1_gamma * 16 if arm.r1_gamma and step % 16 == 0 else 0.0,
            lecam=arm.lecam, lecam_state=lecam,
        )
        step += 1
        images += b
        ema.update(netG, images_seen=images, batch_size=b)
        train_s += time.process_time() - t0
        progress.update(task, completed=min(train_s, budget_s))
        if images >= next_eval or train_s >= budget_s:
            curve.append({"images": images, "train_s": round(train_s, 1), "swd": round(eval_generator(ema.model, z_eval, real_rgb), 3)})
            next_eval += eval_every
    progress.remove_task(task)
    shipped = copy.deepcopy(ema.model)
    recalibrate_batchnorm(shipped, n_batches=8, batch_size=128, seed=0, device="cpu")
    grid = sample(shipped, latents(64, config.nz, seed=0))
    save_grid(grid, grid_dir / f"{arm.name}.png", nrow=8)
    fresh = sample(shipped, latents(2000, config.nz, seed=1))
    values = fp.fingerprints(Image.fromarray(a) for a in composite(fresh))
    return {
        "what": arm.what,
        "recipe": {**dataclasses.asdict(arm), "model": config.to_dict()},
        "images": images,
        "images_per_s": round(images / train_s, 1),
        "precision": precision,
        "train_s": round(train_s, 1),
        "final_swd": curve[-1]["swd"],
        "diversity": round(diversity(values, radius=RADIUS), 4),
        "curve": curve,
    }


def compare(arms: dict[str, dict]) -> tuple[int, dict[str, dict[str, float]]]:
    """SWD of each arm at equal images (the largest count all reached) and at equal wall-clock."""
    common = min(max(p["images"] for p in r["curve"]) for r in arms.values())
    table = {}
    for name, r in arms.items():
        at_images = min((p for p in r["curve"] if p["images"] >= common), key=lambda p: p["images"])["swd"]
        table[name] = {"swd_equal_images": at_images, "swd_equal_time": r["final_swd"]}
    return common, table


def chart(dataset: str, arms: dict[str, dict], path: Path) -> None:
    series = {name: [(p["train_s"] / 60, p["swd"]) for p in r["curve"]] for name, r in arms.items()}
    y_max = max(p[1] for pts in series.values() for p in pts[1:] or pts) * 1.05
    path.write_text(line_svg(series, title=f"Recipe study, {dataset}: SWD (x1e3, lower is better) against training time",
                             x_label="training time, CPU minutes of one thread", y_label="SWD", y_max=y_max,
                             y_format="{:.0f}", x_format="{:.1f}"), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="a folder of var/datasets (e.g. emoji-folk)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of: {', '.join(ARMS)}")
    parser.add_argument("--minutes", type=float, default=2.0, help="training time per arm (CPU minutes, one thread)")
    parser.add_argument("--eval-every", type=int, default=2048, help="images between SWD evaluations")
    parser.add_argument("--channels", type=int, default=None, help="3 or 4 (default: from dataset.json)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true",
                        help="only redraw the chart and print the table from benchmarks/recipes.json")
    parser.add_argument("--grid", type=int, help="pixel art: G draws this grid (with a 128-colour palette); "
                        "SWD on the delivered 64 px images")
    args = parser.parse_args(argv)
    console = Console()
    names = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ARMS)}")
    key = f"{args.dataset}@{args.grid}" if args.grid else args.dataset
    chart_path = ROOT / "docs" / f"recipes-{args.dataset}{f'-grid{args.grid}' if args.grid else ''}.svg"
    if args.report:
        stored = json.loads(OUT.read_text())["datasets"][key]
        return report(console, key, stored["arms"], stored["minutes_per_arm"], chart_path)
    torch.set_num_threads(args.threads)
    manifest = ROOT / "var" / "datasets" / args.dataset / "dataset.json"
    channels = args.channels or (json.loads(manifest.read_text()).get("channels", 3) if manifest.exists() else 3)
    data = load_data(args.dataset, channels, args.grid or 64)
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:1024]
    real_rgb = as_rgb(load_data(args.dataset, channels)[pick] if args.grid else data[pick])
    grid = {"image_size": args.grid, "palette": 128} if args.grid else None
    grid_dir = ROOT / "var" / "recipes" / key
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    results = previous.get("datasets", {}).get(key, {}).get("arms", {})
    with Progress(TextColumn("{task.description:>20}"), BarColumn(), TimeRemainingColumn(), console=console) as progress:
        for name in names:
            results[name] = run_arm(ARMS[name], data, real_rgb, budget_s=args.minutes * 60,
                                    eval_every=args.eval_every, grid_dir=grid_dir, progress=progress, grid=grid)
            console.print(f"{key} {name}: SWD {results[name]['final_swd']}, {results[name]['images']} images, "
                          f"diversity {results[name]['diversity']:.1%}")
            common, table = compare(results)
            # Re-read: the study of another dataset may run beside this one and write too.
            current = json.loads(OUT.read_text()) if OUT.exists() else {}
            datasets = {**current.get("datasets", {}), key: {
                "images": int(len(data)), "channels": channels, "minutes_per_arm": args.minutes,
                "equal_images": common, "comparison": table, "arms": results}}
            write_result(OUT, {"machine": machine(threads=args.threads, torch=torch.__version__),
                               "swd": "1,024 images per set, 64 neighbourhoods per image, 2 x 128 directions (today: 4 x 128); "
                                      "RGBA composited on white",
                               "datasets": datasets}, console)
    return report(console, key, results, args.minutes, chart_path)


def report(console: Console, key: str, results: dict[str, dict], minutes: float, chart_path: Path) -> int:
    chart(key, results, chart_path)
    common, table = compare(results)
    out = Table(title=f"{key}: SWD at equal images ({common:,}) and at equal training time ({minutes:g} CPU min)")
    for col in ("arm", "images", "img/s", "SWD equal images", "SWD equal time", "diversity"):
        out.add_column(col, justify="right" if col != "arm" else "left")
    for name, r in sorted(results.items(), key=lambda kv: kv[1]["final_swd"]):
        out.add_row(name, f"{r['images']:,}", f"{r['images_per_s']}", f"{table[name]['swd_equal_images']:.1f}",
                    f"{table[name]['swd_equal_time']:.1f}", f"{r['diversity']:.1%}")
    console.print(out)
    console.print(f"chart: {chart_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
