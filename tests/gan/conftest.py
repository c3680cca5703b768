from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture(autouse=True)
def _few_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(min(2, old))
    yield
    torch.set_num_threads(old)


@pytest.fixture
def tiny_dataset(tmp_path):
    """64 random-blob 64x64 RGB PNGs."""
    d = tmp_path / "data"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(64):
        img = np.full((64, 64, 3), 255, dtype=np.uint8)
        c = rng.integers(0, 256, size=3)
        x0, y0 = rng.integers(8, 24, size=2)
        img[y0 : y0 + 32, x0 : x0 + 32] = c
        Image.fromarray(img).save(d / f"img_{i:03d}.png")
    return d
