"""Honest quality figures for a trained generator: SWD, C2ST, density/coverage, originality, diversity.

- **SWD** (:mod:`effigies.gan.metrics`): how far generated images are from the
  training images, per pyramid level; lower is better. No network to download.
- **C2ST, density, coverage** (:mod:`effigies.gan.quality`): a second, independent
  view. A small CNN trained from scratch to tell samples from training images
  (held-out accuracy, 0.5 = indistinguishable), and Naeem et al.'s k-NN density
  (fidelity) and coverage (diversity) in a fixed random-CNN feature space.
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

Every image measure sees RGB: RGBA samples and RGBA training images are composited
onto white by the one function that does it everywhere
(:func:`effigies.gan.alpha.composite`, also exported by :mod:`effigies.gan.sample`), so
an RGBA generator is compared with its RGBA training set on the same view the
fingerprints and sample grids use.
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

from effigies.gan.alpha import composite
from effigies.gan.checkpoint import GENERATOR_META, load_generator
from effigies.gan.data import list_images, load_image
from effigies.gan.metrics import swd
from effigies.gan.quality import NEAREST_K, c2st, density_coverage
from effigies.gan.sample import latents, sample
from effigies.uniqueness import fingerprint as fp
from effigies.uniqueness.training_set import fingerprint_dataset

METRICS_FILE = "metrics.json"
METRICS_FORMAT = "effigies-metrics/2"
# Which fingerprint the figures were measured with (names of scripts/bench_fingerprint.py):
# figures of another fingerprint or radius are not comparable.
FINGERPRINT = "value256"
DEFAULT_SAMPLES = 10_000
# Images per set for SWD: descriptors cost ~75 MB per 1,000 images per set and level.
DEFAULT_SWD_IMAGES = 4096
# Images per set for C2ST and density/coverage: 6-17 s each on one busy thread at 2,048. Both
# depend on the set size (k-NN radii shrink, the classifier sees more), so compare at equal N.
DEFAULT_QUALITY_IMAGES = 2048
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
    "c2st_accuracy": "classifier two-sample test: held-out accuracy of a small CNN trained from scratch (fixed "
    "budget) to tell samples from training images on half of quality_images each (0.5 = indistinguishable, "
    "1.0 = always told apart)",
    "c2st_loss_bits": "the same classifier's held-out cross-entropy, bits per image (1.0 = chance, towards 0 = "
    "told apart with confidence): still ranks generators whose accuracy is 1.0",
    "density": f"Naeem et al. 2020, k = {NEAREST_K}, in a fixed random-CNN feature space: real k-NN balls "
    "containing a sample, / k, averaged over samples (about 1 for real vs real; lower = samples off the real "
    "manifold)",
    "coverage": f"Naeem et al. 2020, k = {NEAREST_K}, same features: share of training images whose k-NN ball "
    "holds a sample (about 0.97 for real vs real; lower = parts of the training set never generated)",
    "quality_images": "images per set (samples and training images) for C2ST, density and coverage; these "
    "depend on it, compare at equal quality_images",
    "seconds_by_step": "wall-clock seconds of each step: sampling (with fingerprints), swd, c2st, density_coverage",
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
    each is fingerprinted by the function the sale filter uses. RGBA samples are
    composited onto white first; the kept images are that RGB composite.
    """
    generator, config = load_generator(weights_dir)
    z = latents(n, config.nz, seed=seed)
    values = np.empty((n, fp.BYTES), dtype=np.uint8)
    kept = np.empty((min(keep_images, n), 64, 64, 3), dtype=np.uint8)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            images = composite(sample(generator, z[start : start + batch_size], batch_size=batch_size))
            values[start : start + len(images)] = fp.fingerprints(Image.fromarray(a, mode="RGB") for a in images)
            if start < kept.shape[0]:
                kept[start : start + len(images)] = images[: kept.shape[0] - start]
            if progress_fn is not None:
                progress_fn(start + len(images), n)
    return values, kept


def load_rgb(path: str | Path) -> np.ndarray:
    """One training image as every measure sees it: 64x64, alpha kept, then composited
    onto white like the samples (uint8 HWC RGB)."""
    return composite(load_image(path, 64, channels=4)[None])[0]


def hash_dataset(
    data_dir: str | Path, out_dir: str | Path, *, progress_fn: ProgressFn | None = None
) -> Path:
    """Write ``training_fingerprints.safetensors`` for a dataset folder into ``out_dir`` (next to the generator).

    The registry's own :func:`effigies.uniqueness.training_set.fingerprint_dataset`: each image
    64x64 with alpha kept, fingerprinted on the white composite samples are fingerprinted on
    (the same pixels as :func:`load_rgb`), so its fingerprint compares with samples'.
    """
    return fingerprint_dataset(data_dir, out_dir, progress_fn=progress_fn)


def load_real_images(data_dir: str | Path, *, n: int, seed: int = 0) -> np.ndarray:
    """A seeded random subset of ``n`` dataset images (all if fewer), uint8 NHWC RGB (:func:`load_rgb`),
    for SWD, C2ST and density/coverage."""
    paths = list_images(data_dir)
    if not paths:
        raise ValueError(f"no PNG/JPEG images in {data_dir}")
    if len(paths) > n:
        rng = np.random.default_rng(seed)
        paths = [paths[i] for i in sorted(rng.choice(len(paths), size=n, replace=False))]
    return np.stack([load_rgb(p) for p in paths])


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
    quality_images: int = DEFAULT_QUALITY_IMAGES,
    progress_fn: ProgressFn | None = None,
) -> dict[str, Any]:
    """All metrics of one exported generator, as stored in ``metrics.json``.

    ``training_fingerprints``: (n, 32) uint8, as read by
    :func:`effigies.uniqueness.training_set.read_training_fingerprints`; without
    them originality is None. Without ``real_images`` (uint8 NHWC RGB, as
    :func:`load_real_images` gives them) the SWD, C2ST and density/coverage fields
    are None. ``seed`` picks the latents (and every measure's randomness).
    """
    started = time.perf_counter()
    weights_dir = Path(weights_dir)
    meta = json.loads((weights_dir / GENERATOR_META).read_text(encoding="utf-8"))
    keep = min(max(swd_images, quality_images), samples) if real_images is not None else 0
    values, images = sample_fingerprints(weights_dir, n=samples, seed=seed, keep_images=keep, progress_fn=progress_fn)
    timings = {"sampling": round(time.perf_counter() - started, 1)}
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
        "c2st_accuracy": None,
        "c2st_loss_bits": None,
        "density": None,
        "coverage": None,
        "quality_images": None,
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
        if real_images.shape[-1] == 4:
            real_images = composite(real_images)
        step = time.perf_counter()
        # The first swd_images samples, as before C2ST existed, so SWD figures stay comparable.
        score = swd(real_images, images[:swd_images], seed=seed)
        result.update(swd=round(score.average, 3), swd_levels=score.to_dict()["levels"], swd_images=score.n_images)
        timings["swd"] = round(time.perf_counter() - step, 1)
        result.update(quality_figures(real_images, images[:quality_images], seed=seed, timings=timings))
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["seconds_by_step"] = timings
    result["definitions"] = DEFINITIONS
    return result


def quality_figures(
    real: np.ndarray, fake: np.ndarray, *, seed: int = 0, timings: dict[str, float] | None = None
) -> dict[str, Any]:
    """The ``metrics.json`` fields of C2ST and density/coverage, on equally many RGB images per set
    (empty when too few for k-NN); each measure's seconds go into ``timings``."""
    timings = {} if timings is None else timings
    n = min(len(real), len(fake))
    if n <= NEAREST_K:
        return {}
    step = time.perf_counter()
    test = c2st(real, fake, max_images=n, seed=seed)
    timings["c2st"] = round(time.perf_counter() - step, 1)
    step = time.perf_counter()
    dc = density_coverage(real, fake, max_images=n, seed=seed)
    timings["density_coverage"] = round(time.perf_counter() - step, 1)
    return {"c2st_accuracy": round(test.accuracy, 4), "c2st_loss_bits": round(test.loss_bits, 4),
            "density": round(dc.density, 4), "coverage": round(dc.coverage, 4), "quality_images": n}


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
