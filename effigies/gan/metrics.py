"""Multi-scale sliced Wasserstein distance (SWD), the no-download image-quality metric.

FID needs an Inception network, which cannot be downloaded here; SWD needs
nothing but the images. This follows ProGAN (Karras et al. 2018,
``metrics/sliced_wasserstein.py`` of progressive_growing_of_gans):

1. a Laplacian pyramid of every image (64 -> 32 -> 16; the 16x16 level is the
   blurred image itself, the finer ones are band-pass detail);
2. per level, ``nhoods_per_image`` random 7x7x3 neighbourhoods per image,
   flattened to 147-dimensional descriptors;
3. descriptors normalised per colour channel;
4. ``dir_repeats`` x ``dirs_per_repeat`` random unit directions; for each, the
   1-D Wasserstein-1 distance between the two projected point sets, which for
   equal-size sets is the mean absolute difference of the sorted projections;
5. SWD = the mean over directions, x 1e3 (ProGAN's reporting unit), per level
   and averaged over levels.

Two deliberate differences from ProGAN's code: the per-channel mean/std of
step 3 come from the *combined* real + generated descriptors of a level
(ProGAN normalises each set on its own, which hides a global colour or
contrast shift), and the default is 512 directions per repeat (ProGAN: 128),
which lowers the metric's own noise. Numbers are therefore comparable between
our runs, not with published ProGAN tables.

Deterministic for a given ``seed`` (neighbourhood positions, directions and the
subsets drawn when the two sets differ in size all come from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

# The 5-tap binomial kernel of cv2.pyrDown / ProGAN's pyr_down (applied along rows, then columns).
_BINOMIAL = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)


@dataclass(frozen=True)
class SWDResult:
    """SWD x 1e3 per pyramid level (keyed by resolution, finest first) and their mean."""

    levels: dict[int, float]
    average: float
    n_images: int  # images per set actually compared

    def to_dict(self) -> dict[str, Any]:
        return {
            "levels": {str(k): round(v, 3) for k, v in self.levels.items()},
            "average": round(self.average, 3),
            "images": self.n_images,
        }


def to_float_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [0, 255] or float [-1, 1] images -> float32 NCHW in [0, 255].

    NCHW is expected; a 4-D array whose last axis is 3 and second is not
    (what :func:`effigies.gan.sample.sample` returns, NHWC) is transposed.
    """
    x = torch.as_tensor(images)
    if x.dim() != 4:
        raise ValueError(f"expected a batch of images (4-D), got shape {tuple(x.shape)}")
    if x.shape[1] != 3 and x.shape[-1] == 3:
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] != 3:
        raise ValueError(f"expected RGB images, got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float()
    if not x.is_floating_point():
        raise ValueError(f"expected uint8 or float images, got {x.dtype}")
    return (x.float().clamp(-1, 1) + 1.0) * 127.5


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """5x5 binomial blur as two 1-D passes of shifted sums (a depthwise conv2d is ~10x slower on CPU)."""
    h, w = x.shape[-2:]
    # "reflect" = scipy's mode="mirror" used by ProGAN (edge pixel not repeated).
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = sum(k * x[..., i : i + h, :] for i, k in enumerate(_BINOMIAL))
    x = sum(k * x[..., :, i : i + w] for i, k in enumerate(_BINOMIAL))
    return x * gain if gain != 1.0 else x


def _pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[:, :, ::2, ::2]


def _pyr_up(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, h * 2, w * 2)
    up[:, :, ::2, ::2] = x
    # x4: three quarters of the upsampled pixels are zeros.
    return _blur(up, gain=4.0)


def laplacian_pyramid(images: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """Float NCHW images -> ``num_levels`` levels, finest (band-pass) first, coarsest (low-pass) last."""
    pyramid = [images.float()]
    for _ in range(1, num_levels):
        pyramid.append(_pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - _pyr_up(pyramid[-1])
    return pyramid


def _descriptors(level: torch.Tensor, nhood_size: int, nhoods_per_image: int, rng: np.random.Generator) -> torch.Tensor:
    """Random ``nhood_size``^2 x C patches of one pyramid level: (N * nhoods_per_image, C, k, k)."""
    n, c, h, w = level.shape
    half = nhood_size // 2
    count = n * nhoods_per_image
    # Same index arithmetic as ProGAN's get_descriptors_for_minibatch (flat gather).
    nh, ch, dy, dx = np.ogrid[0:count, 0:c, -half : half + 1, -half : half + 1]
    img = nh // nhoods_per_image
    y = dy + rng.integers(half, h - half, size=(count, 1, 1, 1))
    x = dx + rng.integers(half, w - half, size=(count, 1, 1, 1))
    idx = ((img * c + ch) * h + y) * w + x
    return level.reshape(-1)[torch.from_numpy(idx)]


def _level_descriptors(
    images: torch.Tensor, *, level: int, num_levels: int, nhood_size: int, nhoods_per_image: int,
    rng: np.random.Generator, batch_size: int,
) -> torch.Tensor:
    """Descriptors of one pyramid level for all images (the pyramid is cheap to recompute per level;
    holding every level's descriptors at once is not: ~150 MB per level per 2,048 images)."""
    chunks = []
    for start in range(0, images.shape[0], batch_size):
        # Level i is band-pass only once level i + 1 exists (it subtracts its upsampled copy).
        pyramid = laplacian_pyramid(images[start : start + batch_size], min(level + 2, num_levels))
        chunks.append(_descriptors(pyramid[level], nhood_size, nhoods_per_image, rng))
    return torch.cat(chunks)


def _normalise_together(a: torch.Tensor, b: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    both = torch.cat([a, b])
    mean = both.mean(dim=(0, 2, 3), keepdim=True)
    std = both.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return ((a - mean) / std).flatten(1).numpy(), ((b - mean) / std).flatten(1).numpy()


def sliced_wasserstein(
    a: np.ndarray, b: np.ndarray, *, dir_repeats: int, dirs_per_repeat: int, rng: np.random.Generator,
    dirs_per_chunk: int = 128,
) -> float:
    """Mean over random unit directions of W1 between the projections of two equal-size point sets.

    numpy, not torch: numpy 2's vectorised sort is about 10x faster than
    ``torch.sort`` on CPU here, and sorting is most of the cost.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError("sliced_wasserstein needs two (n, d) sets of the same shape")
    results = []
    for _ in range(dir_repeats):
        dirs = rng.standard_normal((a.shape[1], dirs_per_repeat)).astype(np.float32)
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        total = 0.0
        # Chunks of directions bound the memory of the (directions, n) projections.
        for start in range(0, dirs_per_repeat, dirs_per_chunk):
            d = np.ascontiguousarray(dirs[:, start : start + dirs_per_chunk].T)
            pa = np.sort(d @ a.T, axis=1)
            pb = np.sort(d @ b.T, axis=1)
            total += float(np.abs(pa - pb).sum(dtype=np.float64))
        results.append(total / (a.shape[0] * dirs_per_repeat))
    return float(np.mean(results))


def _subset(x: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    if x.shape[0] == n:
        return x
    return x[torch.from_numpy(np.sort(rng.choice(x.shape[0], size=n, replace=False)))]


def swd(
    real: torch.Tensor | np.ndarray,
    fake: torch.Tensor | np.ndarray,
    *,
    seed: int = 0,
    nhood_size: int = 7,
    nhoods_per_image: int = 128,
    dir_repeats: int = 4,
    dirs_per_repeat: int = 512,
    min_resolution: int = 16,
    batch_size: int = 256,
) -> SWDResult:
    """Multi-scale SWD (x 1e3) between two image sets (see the module docstring).

    ``real`` and ``fake``: uint8 [0, 255] or float [-1, 1], NCHW (or NHWC numpy
    from ``sample``). When the sets differ in size, a seeded random subset of
    the larger one is used so both contribute the same number of descriptors.
    """
    rng = np.random.default_rng(seed)
    a, b = to_float_images(real), to_float_images(fake)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"image shapes differ: {tuple(a.shape[1:])} vs {tuple(b.shape[1:])}")
    n = min(a.shape[0], b.shape[0])
    if n < 1:
        raise ValueError("both image sets must be non-empty")
    a, b = _subset(a, n, rng), _subset(b, n, rng)
    resolutions = []
    res = a.shape[2]
    while res >= min_resolution and res >= nhood_size:
        resolutions.append(res)
        res //= 2
    if not resolutions:
        raise ValueError(f"images of {a.shape[2]}px are smaller than min_resolution={min_resolution}")
    opts = dict(num_levels=len(resolutions), nhood_size=nhood_size, nhoods_per_image=nhoods_per_image, batch_size=batch_size)
    levels = {}
    with torch.inference_mode():
        for i, res in enumerate(resolutions):
            da = _level_descriptors(a, level=i, rng=rng, **opts)
            db = _level_descriptors(b, level=i, rng=rng, **opts)
            na, nb = _normalise_together(da, db)
            del da, db
            levels[res] = 1e3 * sliced_wasserstein(
                na, nb, dir_repeats=dir_repeats, dirs_per_repeat=dirs_per_repeat, rng=rng
            )
    return SWDResult(levels=levels, average=float(np.mean(list(levels.values()))), n_images=n)
