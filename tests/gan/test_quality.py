from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from effigies.gan.quality import (
    NEAREST_K,
    RandomFeatures,
    c2st,
    density_coverage,
    density_coverage_of_features,
    embed,
    to_rgb_float,
)
from effigies.gan.sample import composite


def draw_shapes(n: int, seed: int) -> np.ndarray:
    """``n`` 64x64 RGB images (uint8 NHWC): a light background with three random ellipses/rectangles."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, 64, 64, 3), dtype=np.uint8)
    for i in range(n):
        im = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(180, 256, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(3):
            x0, y0 = (int(v) for v in rng.integers(0, 44, 2))
            size = int(rng.integers(8, 20))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([x0, y0, x0 + size, y0 + size], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        out[i] = np.asarray(im)
    return out


def blur(images: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    return x.round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


@pytest.fixture(scope="module")
def sets() -> dict[str, np.ndarray]:
    # Two independent draws of one distribution, a blurred and a noise set of the same size.
    a, b = draw_shapes(256, seed=0), draw_shapes(256, seed=1)
    noise = np.random.default_rng(2).integers(0, 256, size=b.shape, dtype=np.uint8)
    return {"a": a, "b": b, "blurred": blur(b), "noise": noise}


def test_inputs_nhwc_and_nchw_agree_and_rgba_must_be_composited_first(sets):
    a = sets["a"][:4]
    nhwc = to_rgb_float(a)
    assert nhwc.shape == (4, 3, 64, 64) and nhwc.min() >= -1 and nhwc.max() <= 1
    assert torch.equal(nhwc, to_rgb_float(torch.from_numpy(a).permute(0, 3, 1, 2)))
    rgba = np.concatenate([a, np.full((4, 64, 64, 1), 255, np.uint8)], axis=-1)
    with pytest.raises(ValueError, match="composite"):
        to_rgb_float(rgba)
    assert torch.equal(to_rgb_float(composite(rgba)), nhwc)
    with pytest.raises(ValueError):
        to_rgb_float(a.astype(np.float32))
    with pytest.raises(ValueError):
        to_rgb_float(a[0])


# Fewer C2ST steps than the default where the test does not need its power: ~40 ms a step.
def test_c2st_cannot_tell_one_distribution_from_itself(sets):
    result = c2st(sets["a"], sets["b"], steps=32, seed=0)
    assert (result.train_images, result.test_images, result.steps) == (128, 128, 32)
    # 256 held-out images: the standard error at 0.5 is 0.03.
    assert 0.38 < result.accuracy < 0.62
    # No better than a constant guess (above 1 bit: it over-fitted its half and guesses wrong confidently).
    assert result.loss_bits > 0.9


def test_c2st_tells_noise_and_blur_apart(sets):
    noise = c2st(sets["a"], sets["noise"], steps=32, seed=0)
    assert noise.accuracy > 0.97 and noise.loss_bits < 0.2
    # A 5x5 box blur is subtler: the default budget tells it apart on 9 of 10 held-out images.
    blurred = c2st(sets["a"], sets["blurred"], seed=0)
    assert blurred.accuracy > 0.8 and blurred.loss_bits < 0.7


def test_c2st_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone(sets):
    a, b = sets["a"][:64], sets["blurred"][:64]
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = c2st(a, b, steps=8, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert c2st(a, b, steps=8, seed=5) == first
    # Unequal sets: a seeded subset of the larger one; at most max_images per set.
    small = c2st(sets["a"], b, steps=1, seed=5)
    assert (small.train_images, small.test_images) == (32, 32)
    assert c2st(sets["a"], sets["b"], max_images=40, steps=1, seed=5).test_images == 20
    with pytest.raises(ValueError):
        c2st(a[:1], b, steps=1)


def test_random_features_are_fixed_by_the_seed():
    x = to_rgb_float(draw_shapes(3, seed=4))
    net = RandomFeatures(seed=0)
    out = net(x)
    assert out.shape == (3, net.dim) and not any(p.requires_grad for p in net.parameters())
    assert torch.equal(out, RandomFeatures(seed=0)(x))
    assert not torch.allclose(out, RandomFeatures(seed=1)(x))
    # Another batch size may pick another convolution kernel: equal up to float rounding.
    assert torch.allclose(embed(draw_shapes(3, seed=4), seed=0, batch_size=2), out, atol=1e-5)


def test_density_and_coverage_match_the_reference_definitions():
    """Naeem et al.'s definitions as the prdc package computes them, brute force in numpy."""
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(60, 5)), rng.normal(0.5, 1.2, size=(45, 5))

    def dist(x, y):
        return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))

    radii = np.sort(dist(real, real), axis=1)[:, NEAREST_K]  # index 0 is the point itself
    inside = dist(real, fake) < radii[:, None]
    result = density_coverage_of_features(torch.from_numpy(real), torch.from_numpy(fake))
    assert result.density == pytest.approx(inside.sum(axis=0).mean() / NEAREST_K)
    assert result.coverage == pytest.approx(inside.any(axis=1).mean())
    assert (result.real_images, result.fake_images, result.k) == (60, 45, NEAREST_K)
    # A fake set on top of the real points covers all of them.
    assert density_coverage_of_features(torch.from_numpy(real), torch.from_numpy(real + 1e-9)).coverage == 1.0
    with pytest.raises(ValueError):
        density_coverage_of_features(torch.from_numpy(real[:NEAREST_K]), torch.from_numpy(fake))


def test_density_coverage_of_one_distribution_against_itself_a_collapse_and_noise(sets):
    b = sets["b"]
    same = density_coverage(sets["a"], b)
    assert same.real_images == same.fake_images == 256
    # Expected for matching sets: density 1, coverage 1 - 2**-k (0.97 at k = 5).
    assert 0.75 < same.density < 1.25 and same.coverage > 0.85
    # Mode collapse (4 images, 64 copies each): still on the real manifold, covering little of it.
    collapsed = density_coverage(sets["a"], np.repeat(b[:4], 64, axis=0))
    assert collapsed.density > 0.3 and collapsed.coverage < 0.15
    # Off the manifold: every colour 40 % darker, or noise.
    darker = density_coverage(sets["a"], (b * 0.6).astype(np.uint8))
    noise = density_coverage(sets["a"], sets["noise"])
    for far in (darker, noise):
        assert far.density < 0.05 and far.coverage < 0.05
    assert density_coverage(sets["a"], sets["b"], seed=0) == same
    assert density_coverage(sets["a"], sets["b"], max_images=100).real_images == 100
