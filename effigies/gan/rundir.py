"""The files of a run folder other than checkpoints: fixed noise, stats, sample-grid generator."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import torch

from .model import Generator, recalibrate_batchnorm
from .sample import latents as make_latents

FIXED_NOISE_FILE = "fixed_noise.safetensors"
SAMPLES_DIR = "samples"
STATS_FILE = "stats.jsonl"
OPTIONS_FILE = "options.json"


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_fixed_noise(run_dir: Path, nz: int, n: int, seed: int) -> torch.Tensor:
    """The run's fixed latent batch (created once, then always read back)."""
    from safetensors.torch import load_file, save_file

    path = run_dir / FIXED_NOISE_FILE
    if path.exists():
        noise = load_file(str(path))["noise"]
        if noise.shape[1] == nz:
            return noise
    noise = make_latents(n, nz, seed=seed + 1_000_003)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({"noise": noise.contiguous()}, str(tmp))
    os.replace(tmp, path)
    return noise


def truncate_stats(path: Path, max_step: int) -> None:
    """Drop stats lines written after the checkpoint we resume from."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if int(json.loads(line)["step"]) <= max_step:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    atomic_write_text(path, "".join(l + "\n" for l in keep))


def grid_generator(netG: Generator, device: torch.device, seed: int) -> Generator:
    """A copy of G with BatchNorm statistics recomputed (see sample.py), eval mode."""
    g = copy.deepcopy(netG)
    recalibrate_batchnorm(g, n_batches=8, batch_size=128, seed=seed, device=device)
    return g
