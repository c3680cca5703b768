from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from effigies.gan.metrics import _pyr_up, laplacian_pyramid, swd, to_float_images

# Smaller than the defaults so each test takes well under a second; the ordering
# checked here holds with the defaults too (they only lower the metric's noise).
FAST = dict(nhoods_per_image=64, dirs_per_repeat=128, dir_repeats=2)


def draw_shapes(n: int, seed: int) -> torch.Tensor:
    """``n`` 64x64 images: a light background with three ellipses/rectangles of random colours (uint8 NCHW)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, 64, 64, 3), dtype=np.uint8)
    for i in range(n):
        im = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(180, 256, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(3):
            x0, y0 = (int(v) for v in rng.integers(0, 44, 2))
            size = int(rng.integers(8, 20))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([x0, y0, x0 + size, y0 + size], fill=colour)
        out[i] = np.asarray(im)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def shapes() -> torch.Tensor:
    return draw_shapes(256, seed=0)


def test_real_halves_score_far_below_a_blurred_copy_and_noise(shapes):
    a, b = shapes[:128], shapes[128:]
    blurred = F.avg_pool2d(b.float(), 3, stride=1, padding=1).round().to(torch.uint8)
    noise = torch.from_numpy(np.random.default_rng(1).integers(0, 256, size=b.shape, dtype=np.uint8))
    same = swd(a, b, **FAST)
    worse = swd(a, blurred, **FAST)
    worst = swd(a, noise, **FAST)
    assert list(same.levels) == [64, 32, 16] and same.n_images == 128
    assert same.average < 0.5 * worse.average
    assert worse.average < 0.5 * worst.average
    # Blur removes fine detail: the finest level sees it most.
    assert worse.levels[64] > 5 * same.levels[64]


def test_shifted_copy_lies_between_halves_and_noise(shapes):
    a, b = shapes[:128], shapes[128:]
    # Every shape moved 8 px right and down, the uncovered border filled with the background.
    shifted = torch.roll(b, shifts=(8, 8), dims=(2, 3))
    shifted[:, :, :8, :] = b[:, :, :1, :1]
    shifted[:, :, :, :8] = b[:, :, :1, :1]
    darker = (b.float() * 0.7).to(torch.uint8)
    noise = torch.from_numpy(np.random.default_rng(1).integers(0, 256, size=b.shape, dtype=np.uint8))
    same, moved, dark, worst = (swd(a, x, **FAST).average for x in (b, shifted, darker, noise))
    assert same < moved < worst
    assert same < dark < worst  # a global colour shift shows (descriptors normalised over both sets)


def test_deterministic_for_a_seed_and_input_encoding_does_not_matter(shapes):
    a, b = shapes[:64], shapes[64:128]
    first = swd(a, b, seed=3, **FAST)
    assert swd(a, b, seed=3, **FAST) == first
    assert swd(a, b, seed=4, **FAST) != first
    as_float = swd(a.float() / 127.5 - 1.0, b.float() / 127.5 - 1.0, seed=3, **FAST)
    as_nhwc = swd(a.permute(0, 2, 3, 1).numpy(), b.permute(0, 2, 3, 1).numpy(), seed=3, **FAST)
    assert as_float.average == pytest.approx(first.average, rel=1e-3)
    assert as_nhwc.average == pytest.approx(first.average, rel=1e-6)
    assert first.to_dict()["levels"].keys() == {"64", "32", "16"}


def test_unequal_sets_use_the_same_number_of_images(shapes):
    result = swd(shapes[:100], shapes[100:160], **FAST)
    assert result.n_images == 60


def test_laplacian_pyramid_reconstructs_the_image(shapes):
    x = to_float_images(shapes[:4])
    pyramid = laplacian_pyramid(x, 3)
    assert [p.shape[-1] for p in pyramid] == [64, 32, 16]
    rebuilt = pyramid[-1]
    for level in reversed(pyramid[:-1]):
        rebuilt = level + _pyr_up(rebuilt)
    assert torch.allclose(rebuilt, x, atol=1e-3)
    assert abs(float(pyramid[0].mean())) < 1.0  # band-pass: about zero mean (on a 0..255 scale)


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        swd(torch.zeros(4, 64, 64, dtype=torch.uint8), torch.zeros(4, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError):
        swd(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
