"""Honest quality figures for a trained generator: SWD, originality, diversity.

- **SWD** (:mod:`effigies.gan.metrics`): how far generated images are from the
  training images, per pyramid level; lower is better. No network to download.
- **originality**: share of N fresh samples whose pHash lies within the
  uniqueness radius R of *any* training image's pHash, i.e. near-copies of the
  training set. Lower is better; none is ever sold (the sale filter refuses
  them), the figure says how often the filter has to.
- **diversity**: share of N fresh samples (10,000 by default) that have *no*
  other sample of the same batch within R. Goal: >= 95 %. It predicts how many
  generated candidates survive the "no near-copy of a sold avatar" filter.

Hamming distances are computed all-pairs with uint64 XOR + popcount in chunks,
so 10k x 10k (or 10k x 12k training hashes) takes seconds, not a database
round trip per pair.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from effigies.gan.checkpoint import GENERATOR_META, load_generator
from effigies.gan.data import list_images, load_image
from effigies.gan.metrics import swd
from effigies.gan.sample import latents, sample
from effigies.uniqueness.service import phash
from effigies.uniqueness.training_set import TRAINING_PHASHES_FILE, dataset_sha256, write_training_phashes

METRICS_FILE = "metrics.json"
METRICS_FORMAT = "effigies-metrics/1"
DEFAULT_SAMPLES = 10_000
# Images per set for SWD: descriptors cost ~75 MB per 1,000 images per set and level.
DEFAULT_SWD_IMAGES = 4096
DEFINITIONS = {
    "swd": "multi-scale sliced Wasserstein distance x 1e3, generated vs training images (lower is better)",
    "originality": "share of samples within the uniqueness radius of a training image's pHash (lower is better)",
    "diversity": "share of samples with no other sample of the batch within the radius (goal >= 0.95)",
    "diversity_training": "the same share for as many real training images: what the fingerprint allows at best",
}

ProgressFn = Callable[[int, int], None]

_MASK64 = (1 << 64) - 1
# Bits set per byte value, for numpy < 2 (no np.bitwise_count).
_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


# --------------------------------------------------------------------------- Hamming distances
def as_unsigned(hashes: Sequence[int] | np.ndarray) -> np.ndarray:
    """Registry pHashes (signed int64, or Python ints in either encoding) -> their 64 bits as uint64."""
    if isinstance(hashes, np.ndarray) and hashes.dtype == np.uint64:
        return hashes.reshape(-1)
    if isinstance(hashes, np.ndarray) and hashes.dtype == np.int64:
        return hashes.reshape(-1).view(np.uint64)  # same bits, no copy
    return np.fromiter((int(h) & _MASK64 for h in hashes), dtype=np.uint64, count=len(hashes))


def popcount64(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64 (uint8 result)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return _BYTE_POPCOUNT[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1, dtype=np.uint8)


def near_any(
    queries: Sequence[int] | np.ndarray,
    references: Sequence[int] | np.ndarray,
    *,
    radius: int,
    exclude_self: bool = False,
    chunk_elements: int = 1 << 22,
) -> np.ndarray:
    """For each query hash, whether some reference hash lies within ``radius`` bits.

    ``exclude_self``: queries and references are the same list and position i
    is not compared with itself (an exact duplicate elsewhere still counts).
    Works in row chunks of about ``chunk_elements`` distances (~40 MB).
    """
    q, r = as_unsigned(queries), as_unsigned(references)
    out = np.zeros(q.shape[0], dtype=bool)
    if q.size == 0 or r.size == 0:
        return out
    if exclude_self and q.shape != r.shape:
        raise ValueError("exclude_self needs queries and references to be the same list")
    rows = max(1, chunk_elements // r.shape[0])
    for start in range(0, q.shape[0], rows):
        block = q[start : start + rows]
        close = popcount64(block[:, None] ^ r[None, :]) <= radius
        if exclude_self:
            i = np.arange(block.shape[0])
            close[i, start + i] = False
        out[start : start + rows] = close.any(axis=1)
    return out


def originality(sample_hashes: Sequence[int] | np.ndarray, training_hashes: Sequence[int] | np.ndarray, *, radius: int) -> float:
    """Share of samples within ``radius`` of any training hash (0.0 = no near-copy)."""
    near = near_any(sample_hashes, training_hashes, radius=radius)
    return float(near.mean()) if near.size else 0.0


def diversity(sample_hashes: Sequence[int] | np.ndarray, *, radius: int) -> float:
    """Share of samples with no *other* sample within ``radius`` (1.0 = all distinct)."""
    near = near_any(sample_hashes, sample_hashes, radius=radius, exclude_self=True)
    return float(1.0 - near.mean()) if near.size else 1.0


# --------------------------------------------------------------------------- hashing images
def phashes_of(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC RGB images -> registry pHashes (int64), the same function the sale filter uses."""
    return np.array([phash(Image.fromarray(a, mode="RGB")) for a in images], dtype=np.int64)


def sample_phashes(
    weights_dir: str | Path,
    *,
    n: int,
    seed: int = 0,
    batch_size: int = 256,
    keep_images: int = 0,
    progress_fn: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """pHashes of ``n`` fresh samples of an exported generator, and the first ``keep_images`` images.

    Latents come from :func:`effigies.gan.sample.latents` (``seed``), images
    from :func:`effigies.gan.sample.sample` in eval mode, as the product makes them.
    """
    generator, config = load_generator(weights_dir)
    z = latents(n, config.nz, seed=seed)
    hashes = np.empty(n, dtype=np.int64)
    kept = np.empty((min(keep_images, n), 64, 64, 3), dtype=np.uint8)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            images = sample(generator, z[start : start + batch_size], batch_size=batch_size)
            hashes[start : start + len(images)] = phashes_of(images)
            if start < kept.shape[0]:
                kept[start : start + len(images)] = images[: kept.shape[0] - start]
            if progress_fn is not None:
                progress_fn(start + len(images), n)
    return hashes, kept


def hash_dataset(
    data_dir: str | Path, out_dir: str | Path, *, progress_fn: ProgressFn | None = None
) -> Path:
    """Write ``training_phashes.safetensors`` for a dataset folder into ``out_dir`` (next to the generator).

    Each image is hashed as the generator saw it in training (``load_image``:
    64x64, transparency on white), so the hashes compare with samples'.
    """
    paths = list_images(data_dir)
    if not paths:
        raise ValueError(f"no PNG/JPEG images in {data_dir}")
    hashes = np.empty(len(paths), dtype=np.int64)
    for i, path in enumerate(paths):
        hashes[i] = phash(Image.fromarray(load_image(path), mode="RGB"))
        if progress_fn is not None and ((i + 1) % 200 == 0 or i + 1 == len(paths)):
            progress_fn(i + 1, len(paths))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_training_phashes(
        out_dir / TRAINING_PHASHES_FILE, hashes, dataset_sha256=dataset_sha256(paths), dataset=Path(data_dir).resolve().name
    )


def load_real_images(data_dir: str | Path, *, n: int, seed: int = 0) -> np.ndarray:
    """A seeded random subset of ``n`` dataset images (all if fewer), uint8 NHWC, for SWD."""
    paths = list_images(data_dir)
    if not paths:
        raise ValueError(f"no PNG/JPEG images in {data_dir}")
    if len(paths) > n:
        rng = np.random.default_rng(seed)
        paths = [paths[i] for i in sorted(rng.choice(len(paths), size=n, replace=False))]
    return np.stack([load_image(p) for p in paths])


# --------------------------------------------------------------------------- the report
def evaluate_generator(
    weights_dir: str | Path,
    *,
    samples: int = DEFAULT_SAMPLES,
    radius: int,
    seed: int = 0,
    training_hashes: np.ndarray | None = None,
    real_images: np.ndarray | None = None,
    swd_images: int = DEFAULT_SWD_IMAGES,
    progress_fn: ProgressFn | None = None,
) -> dict[str, Any]:
    """All metrics of one exported generator, as stored in ``metrics.json``.

    Without ``training_hashes`` originality is None; without ``real_images``
    the SWD fields are None. ``seed`` picks the latents (and SWD's randomness).
    """
    started = time.perf_counter()
    weights_dir = Path(weights_dir)
    meta = json.loads((weights_dir / GENERATOR_META).read_text(encoding="utf-8"))
    keep = min(swd_images, samples) if real_images is not None else 0
    hashes, images = sample_phashes(weights_dir, n=samples, seed=seed, keep_images=keep, progress_fn=progress_fn)
    result: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "generator_sha256": meta.get("weights_sha256"),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "samples": int(samples),
        "radius": int(radius),
        "seed": int(seed),
        "originality": None,
        "training_images": None,
        "diversity": round(diversity(hashes, radius=radius), 5),
        "diversity_training": None,
        "swd": None,
        "swd_levels": None,
        "swd_images": None,
    }
    if training_hashes is not None:
        result["originality"] = round(originality(hashes, training_hashes, radius=radius), 5)
        result["training_images"] = int(len(training_hashes))
        # Diversity of real images at the same N and R: if distinct real images already collide
        # under the fingerprint, the generator cannot do better and the limit is the fingerprint.
        reference = np.asarray(training_hashes)
        if len(reference) > samples:
            reference = reference[np.random.default_rng(seed).choice(len(reference), size=samples, replace=False)]
        result["diversity_training"] = round(diversity(reference, radius=radius), 5)
    if real_images is not None and keep > 0:
        score = swd(real_images, images, seed=seed)
        result.update(swd=round(score.average, 3), swd_levels=score.to_dict()["levels"], swd_images=score.n_images)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["definitions"] = DEFINITIONS
    return result


def write_metrics(weights_dir: str | Path, metrics: dict[str, Any]) -> Path:
    """``metrics.json`` next to the generator (temp file + rename)."""
    path = Path(weights_dir) / METRICS_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
