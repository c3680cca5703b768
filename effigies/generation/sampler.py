"""Loads each theme's generator once per worker process and turns latents into images."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from effigies.gan.checkpoint import load_generator
from effigies.gan.sample import latents, sample

_lock = threading.Lock()
_generators: dict[str, tuple[torch.nn.Module, object]] = {}


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def generator_for(version_id: str, weights_dir: Path) -> tuple[torch.nn.Module, object]:
    """Lazily, in the process that samples (never in a parent before fork), and once."""
    with _lock:
        if version_id not in _generators:
            _generators[version_id] = load_generator(weights_dir, device=device())
        return _generators[version_id]


def generate(version_id: str, weights_dir: Path, *, n: int, seed: int) -> np.ndarray:
    """n images as uint8 (n, H, W, 3); the same seed gives the same images."""
    generator, config = generator_for(version_id, weights_dir)
    z = latents(n, config.nz, seed=seed).to(device())
    return sample(generator, z)
