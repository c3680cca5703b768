"""Honest quality figures for a trained generator: SWD, originality, diversity.

- **SWD** (:mod:`effigies.gan.metrics`): how far generated images are from the
  training images, per pyramid level; lower is better. No network to download.
- **originality**: share of N fresh samples whose fingerprint (the registry's
  256-bit brightness fingerprint, :mod:`effigies.uniqueness.fingerprint`) lies
  within the uniqueness radius R of *any* training image's fingerprint, i.e.
  near-copies of the training set. Lower is better; none is ever sold (the sale
  filter refuses them), the figure says how often the filter has to.
- **diversity**: share of N fresh samples (10,000 by default) that have *no*
  other sample of the same batch within R. Goal: >= 95 %. It predicts how many
  generated candidates survive the "no near-copy of a sold avatar" filter.

Hamming distances are computed all-pairs in memory, in row chunks, so 10k x 12k
takes seconds and tens of MB, not a database round trip per pair.
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
from effigies.uniqueness import fingerprint as fp
from effigies.uniqueness.training_set import TRAINING_FINGERPRINTS_FILE, dataset_sha256, write_training_fingerprints

METRICS_FILE = "metrics.json"
METRICS_FORMAT = "effigies-metrics/2"
# Which fingerprint the figures were measured with (names of scripts/bench_fingerprint.py):
# figures of another fingerprint or radius are not comparable.
FINGERPRINT = "value256"
DEFAULT_SAMPLES = 10_000
# Images per set for SWD: descriptors cost ~75 MB per 1,000 images per set and level.
DEFAULT_SWD_IMAGES = 4096
DEFINITIONS = {
    "swd": "multi-scale sliced Wasserstein distance x 1e3, generated vs training images (lower is better)",
    "originality": "share of samples within the uniqueness radius of a training image's 256-bit brightness "
    "fingerprint (lower is better)",
    "diversity": "share of samples with no other sample of the batch within the radius of its 256-bit brightness "
    "fingerprint (goal >= 0.95)",
    "diversity_training": "the same share for as many real training images: how many distinct real images the "
    "fingerprint tells apart at this radius (recolours of one image count as copies)",
    "fingerprint": "value256: 256-bit DCT perceptual hash of the brightness, max(R, G, B) "
    "(effigies.uniqueness.fingerprint), the registry's",
    "radius": "uniqueness radius R: Hamming distance in bits, of 256, within which two images count as copies",
}

ProgressFn = Callable[[int, int], None]
Fingerprints = Sequence[bytes] | np.ndarray

# Distances per chunk: fingerprint.distances needs ~100 bytes per pair at its peak (XOR and
# popcount of 32 bytes), so ~25 MB; measured no slower than bigger chunks (cache-friendlier).
_CHUNK_PAIRS = 1 << 18


# --------------------------------------------------------------------------- Hamming distances
def as_matrix(values: Fingerprints) -> np.ndarray:
    """32-byte fingerprints (bytes or a packed array) -> (n, 32) uint8."""
    if isinstance(values, np.ndarray):
        if values.dtype != np.uint8:
            raise ValueError(f"packed fingerprints are uint8, not {values.dtype}")
        return values.reshape(-1, fp.BYTES)
    if any(len(v) != fp.BYTES for v in values):
        raise ValueError(f"every fingerprint must be {fp.BYTES} bytes")
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, fp.BYTES)


def near_any(
    queries: Fingerprints,
    references: Fingerprints,
    *,
    radius: int,
    exclude_self: bool = False,
    chunk_pairs: int = _CHUNK_PAIRS,
) -> np.ndarray:
    """For each query fingerprint, whether some reference lies within ``radius`` bits.

    ``exclude_self``: queries and references are the same list and position i
    is not compared with itself (an exact duplicate elsewhere still counts).
    Works in row chunks of about ``chunk_pairs`` distances.
    """
    q, r = as_matrix(queries), as_matrix(references)
    out = np.zeros(q.shape[0], dtype=bool)
    if q.shape[0] == 0 or r.shape[0] == 0:
        return out
    if exclude_self and q.shape != r.shape:
        raise ValueError("exclude_self needs queries and references to be the same list")
    rows = max(1, chunk_pairs // r.shape[0])
    for start in range(0, q.shape[0], rows):
        block = q[start : start + rows]
        if exclude_self:
            # Distance is symmetric: rows before this chunk already met these rows as columns,
            # so compare with the rows from here on only (about half the work) and mark both
            # ends of every close pair.
            close = fp.distances(block, r[start:]) <= radius
            i = np.arange(block.shape[0])
            close[i, i] = False
            out[start : start + block.shape[0]] |= close.any(axis=1)
            out[start:] |= close.any(axis=0)
        else:
            out[start : start + block.shape[0]] = (fp.distances(block, r) <= radius).any(axis=1)
    return out


def originality(sample_values: Fingerprints, training_values: Fingerprints, *, radius: int) -> float:
    """Share of samples within ``radius`` of any training fingerprint (0.0 = no near-copy)."""
    near = near_any(sample_values, training_values, radius=radius)
    return float(near.mean()) if near.size else 0.0


def diversity(sample_values: Fingerprints, *, radius: int) -> float:
    """Share of samples with no *other* sample within ``radius`` (1.0 = all distinct)."""
    near = near_any(sample_values, sample_values, radius=radius, exclude_self=True)
    return float(1.0 - near.mean()) if near.size else 1.0


# --------------------------------------------------------------------------- hashing images
def sample_fingerprints(
    weights_dir: str | Path,
    *,
    n: int,
    seed: int = 0,
    batch_size: int = 256,
    keep_images: int = 0,
    progress_fn: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints ((n, 32) uint8) of ``n`` fresh samples of an exported generator, and the first ``keep_images`` images.

    Latents come from :func:`effigies.gan.sample.latents` (``seed``), images
    from :func:`effigies.gan.sample.sample` in eval mode, as the product makes them;
    each is fingerprinted by the function the sale filter uses.
    """
    generator, config = load_generator(weights_dir)
    z = latents(n, config.nz, seed=seed)
    values = np.empty((n, fp.BYTES), dtype=np.uint8)
    kept = np.empty((min(keep_images, n), 64, 64, 3), dtype=np.uint8)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            images = sample(generator, z[start : start + batch_size], batch_size=batch_size)
            values[start : start + len(images)] = fp.fingerprints(Image.fromarray(a, mode="RGB") for a in images)
            if start < kept.shape[0]:
                kept[start : start + len(images)] = images[: kept.shape[0] - start]
            if progress_fn is not None:
                progress_fn(start + len(images), n)
    return values, kept


def hash_dataset(
    data_dir: str | Path, out_dir: str | Path, *, progress_fn: ProgressFn | None = None
) -> Path:
    """Write ``training_fingerprints.safetensors`` for a dataset folder into ``out_dir`` (next to the generator).

    Each image is fingerprinted as the generator saw it in training (``load_image``:
    64x64, transparency on white), so its fingerprint compares with samples'.
    """
    paths = list_images(data_dir)
    if not paths:
        raise ValueError(f"no PNG/JPEG images in {data_dir}")
    values = np.empty((len(paths), fp.BYTES), dtype=np.uint8)
    for i, path in enumerate(paths):
        values[i] = np.frombuffer(fp.fingerprint(Image.fromarray(load_image(path), mode="RGB")), dtype=np.uint8)
        if progress_fn is not None and ((i + 1) % 200 == 0 or i + 1 == len(paths)):
            progress_fn(i + 1, len(paths))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_training_fingerprints(
        out_dir / TRAINING_FINGERPRINTS_FILE, values, dataset_sha256=dataset_sha256(paths),
        dataset=Path(data_dir).resolve().name,
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
    training_fingerprints: np.ndarray | None = None,
    real_images: np.ndarray | None = None,
    swd_images: int = DEFAULT_SWD_IMAGES,
    progress_fn: ProgressFn | None = None,
) -> dict[str, Any]:
    """All metrics of one exported generator, as stored in ``metrics.json``.

    ``training_fingerprints``: (n, 32) uint8, as read by
    :func:`effigies.uniqueness.training_set.read_training_fingerprints`; without
    them originality is None. Without ``real_images`` the SWD fields are None.
    ``seed`` picks the latents (and SWD's randomness).
    """
    started = time.perf_counter()
    weights_dir = Path(weights_dir)
    meta = json.loads((weights_dir / GENERATOR_META).read_text(encoding="utf-8"))
    keep = min(swd_images, samples) if real_images is not None else 0
    values, images = sample_fingerprints(weights_dir, n=samples, seed=seed, keep_images=keep, progress_fn=progress_fn)
    result: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "generator_sha256": meta.get("weights_sha256"),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "samples": int(samples),
        "fingerprint": FINGERPRINT,
        "radius": int(radius),
        "seed": int(seed),
        "originality": None,
        "training_images": None,
        "diversity": round(diversity(values, radius=radius), 5),
        "diversity_training": None,
        "swd": None,
        "swd_levels": None,
        "swd_images": None,
    }
    if training_fingerprints is not None:
        reference = as_matrix(training_fingerprints)
        result["originality"] = round(originality(values, reference, radius=radius), 5)
        result["training_images"] = int(reference.shape[0])
        # Diversity of real images at the same N and R: tells a generator that collapses apart from
        # a fingerprint that merges distinct images (recolours are merged on purpose).
        if len(reference) > samples:
            reference = reference[np.random.default_rng(seed).choice(len(reference), size=samples, replace=False)]
        result["diversity_training"] = round(diversity(reference, radius=radius), 5)
    if real_images is not None and keep > 0:
        score = swd(real_images, images, seed=seed)
        result.update(swd=round(score.average, 3), swd_levels=score.to_dict()["levels"], swd_images=score.n_images)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["definitions"] = DEFINITIONS
    return result


CAPACITY_KEYS = ("capacity", "capacity_is_lower_bound", "capacity_radius", "capacity_measured_at")
CAPACITY_DEFINITION = (
    "sales before half of fresh samples are refused, at capacity_radius, with the training images registered "
    "(ln 2 / p minus them, p fitted on a simulated shop: scripts/bench_capacity.py, benchmarks/capacity.json); "
    "a lower bound when no refusal was seen")


def write_metrics(weights_dir: str | Path, metrics: dict[str, Any]) -> Path:
    """``metrics.json`` next to the generator (temp file + rename).

    The capacity (scripts/bench_capacity.py, hours of simulation) belongs to the generator: a
    re-evaluation of the same weights keeps it, new weights drop it."""
    path = Path(weights_dir) / METRICS_FILE
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("generator_sha256") and old.get("generator_sha256") == metrics.get("generator_sha256"):
            metrics = {**metrics, **{k: old[k] for k in CAPACITY_KEYS if k in old}}
            if "capacity" in metrics:
                metrics["definitions"] = {**metrics.get("definitions", {}), "capacity": CAPACITY_DEFINITION}
    return _write_json(path, metrics)


def record_capacity(weights_dir: str | Path, *, capacity: float, lower_bound: bool, radius: int,
                    measured_at: str) -> Path:
    """Adds a measured capacity to the generator's ``metrics.json`` (the admin themes table reads it)."""
    path = Path(weights_dir) / METRICS_FILE
    metrics = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    metrics.update({"capacity": round(capacity), "capacity_is_lower_bound": lower_bound, "capacity_radius": radius,
                    "capacity_measured_at": measured_at})
    metrics["definitions"] = {**metrics.get("definitions", {}), "capacity": CAPACITY_DEFINITION}
    return _write_json(path, metrics)


def _write_json(path: Path, metrics: dict[str, Any]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
