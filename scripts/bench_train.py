#!/usr/bin/env python3
"""Training speed: a plain DCGAN loop vs our trainer, one full D+G step, same CPU, same run.

    .venv/bin/python scripts/bench_train.py            # 20 timed steps of batch 128 per variant
    .venv/bin/python scripts/bench_train.py --steps 5  # quick check

(a) plain: the pytorch/examples dcgan loop (fp32, default memory format, no extras)
    on the paper network from ``build_models(DCGANConfig())``;
(b) trainer: the real ``effigies.gan.train.train`` with its defaults (bf16 autocast
    where ``resolve_precision('auto', cpu)`` says so, channels_last on CPU); its
    per-step ``images_per_s`` is read back from ``stats.jsonl`` (``log_every=1``).
Both read batches from the same in-memory uint8 dataset (a folder of synthetic
PNGs) and include that indexing in the step. Warm-up steps are not timed. Prints a
table and writes benchmarks/train.json (numbers, machine, load average, date).
Other processes on the machine slow both variants; the load average is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table
from torch import nn

from benchlib import cpu_model, machine, write_result
from effigies.gan.config import DCGANConfig, TrainOptions
from effigies.gan.data import load_image_folder, normalize
from effigies.gan.model import build_models
from effigies.gan.runtime import cpu_supports_bf16, resolve_precision
from effigies.gan.train import train

ROOT = Path(__file__).resolve().parents[1]


def write_dataset(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` 64x64 PNGs of random coloured shapes: content does not change the step time."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        im = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(150, 256, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(3):
            x, y = (int(v) for v in rng.integers(0, 44, 2))
            s = int(rng.integers(8, 24))
            draw.ellipse([x, y, x + s, y + s], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        im.save(folder / f"img_{i:04d}.png")
    return folder


def plain_loop(data_dir: Path, *, batch_size: int, warmup: int, steps: int) -> list[float]:
    """Seconds per step of the textbook loop: fp32, contiguous tensors, BCE, Adam(2e-4, 0.5)."""
    data = load_image_folder(data_dir)
    config = DCGANConfig()
    netG, netD = build_models(config, seed=0)
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(0)
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        idx = torch.randperm(data.shape[0], generator=gen)[:batch_size]
        real = normalize(data[idx])
        noise = torch.randn(batch_size, config.nz, 1, 1, generator=gen)
        netD.zero_grad(set_to_none=True)
        out_real = netD(real)
        err_real = criterion(out_real, torch.ones_like(out_real))
        err_real.backward()
        fake = netG(noise)
        out_fake = netD(fake.detach())
        err_fake = criterion(out_fake, torch.zeros_like(out_fake))
        err_fake.backward()
        optD.step()
        netG.zero_grad(set_to_none=True)
        out_g = netD(fake)
        err_g = criterion(out_g, torch.ones_like(out_g))
        err_g.backward()
        optG.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


def trainer_loop(data_dir: Path, run_dir: Path, *, batch_size: int, warmup: int, steps: int) -> tuple[list[float], dict]:
    """Seconds per step of the real trainer, from its own stats.jsonl (one line per step)."""
    options = TrainOptions(
        data_dir=str(data_dir), out_dir=str(run_dir), batch_size=batch_size,
        total_images=(warmup + steps) * batch_size, log_every=1,
        sample_every=0, sample_every_s=None, checkpoint_every=0, checkpoint_every_s=None,
    )
    summary = train(options)
    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    timed = [line for line in lines if line["step"] > warmup]
    return [batch_size / line["images_per_s"] for line in timed], summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--images", type=int, default=512, help="synthetic dataset size")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "train.json")
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1 (the trainer's first step also writes a grid)")
    torch.set_num_threads(args.threads)
    console = Console()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        data_dir = write_dataset(Path(tmp) / "data", args.images)
        with console.status("(a) plain loop"):
            plain = plain_loop(data_dir, batch_size=args.batch_size, warmup=args.warmup, steps=args.steps)
        with console.status("(b) trainer"):
            ours, summary = trainer_loop(data_dir, Path(tmp) / "run", batch_size=args.batch_size, warmup=args.warmup,
                                         steps=args.steps)

    rows = []
    base_ms = statistics.mean(plain) * 1e3
    for name, times, precision, memory_format in (
        ("plain loop", plain, "fp32", "contiguous"),
        ("effigies trainer", ours, summary["precision"], "channels_last" if summary["channels_last"] else "contiguous"),
    ):
        ms = statistics.mean(times) * 1e3
        rows.append({
            "variant": name, "precision": precision, "memory_format": memory_format, "steps": len(times),
            "ms_per_step": round(ms, 1), "ms_per_step_median": round(statistics.median(times) * 1e3, 1),
            "images_per_s": round(args.batch_size / ms * 1e3, 1), "ratio": round(base_ms / ms, 2),
        })

    table = Table(title=f"DCGAN training step (batch {args.batch_size}, {args.threads} threads, {cpu_model()})")
    for col in ("variant", "precision", "memory format", "ms/step", "images/s", "ratio"):
        table.add_column(col, justify="left" if col in ("variant", "precision", "memory format") else "right")
    for r in rows:
        table.add_row(r["variant"], r["precision"], r["memory_format"], f"{r['ms_per_step']:.0f}",
                      f"{r['images_per_s']:.1f}", f"{r['ratio']:.2f}x")
    console.print(table)

    payload = {
        "machine": machine(
            threads=args.threads, torch=torch.__version__, bf16_native=cpu_supports_bf16(),
            auto_precision=resolve_precision("auto", torch.device("cpu")),
            load_average_before=[round(v, 2) for v in load_before],
            load_average_after=[round(v, 2) for v in os.getloadavg()],
        ),
        "batch_size": args.batch_size, "warmup_steps": args.warmup, "timed_steps": args.steps,
        "network": DCGANConfig().to_dict(), "results": rows,
    }
    write_result(args.out, payload, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
