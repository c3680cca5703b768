"""``training_fingerprints.safetensors``: the fingerprints of a generator's training images, kept with its weights.

The sale filter refuses near-copies of training images, so every model version
must ship the fingerprints of the images it learned from; the images themselves
(10k+ PNGs, someone else's artwork) do not ship. One uint8 tensor "fingerprint"
of shape (n, 32): the registry's 256-bit fingerprints
(:func:`effigies.uniqueness.fingerprint.fingerprint`), packed, most significant
bit first; plus string metadata: ``format``, ``count``, ``dataset_sha256``, ``dataset``.

A training image is fingerprinted as an RGBA generator saw it (64 px, alpha kept), composited
on the registry's white by ``fingerprint()``: the same composite as every candidate, and for an
opaque image, or one with transparency at 64 px, the very value the earlier RGB themes stored
(their images were flattened on white before training and hashing).

numpy + safetensors only at import: the API process reads this at start-up without torch
(images are read by effigies.gan.data, imported only where a dataset is hashed).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from effigies.uniqueness.fingerprint import BYTES, fingerprint

TRAINING_FINGERPRINTS_FILE = "training_fingerprints.safetensors"
FORMAT = "effigies-training-fingerprints/2"
_TENSOR = "fingerprint"


@dataclass(frozen=True)
class TrainingFingerprints:
    values: np.ndarray  # (n, 32) uint8, one row per training image, in file-name order
    dataset_sha256: str
    dataset: str

    @property
    def count(self) -> int:
        return int(self.values.shape[0])

    def as_bytes(self) -> list[bytes]:
        return [row.tobytes() for row in self.values]


def dataset_sha256(paths: Iterable[Path]) -> str:
    """One digest for a dataset: every file's name and bytes, in the given (sorted) order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _as_matrix(values: Sequence[bytes] | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray):
        matrix = values
    else:
        # A short or long bytes value would otherwise shift every later row.
        if any(len(v) != BYTES for v in values):
            raise ValueError(f"every fingerprint must be {BYTES} bytes")
        matrix = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, BYTES)
    if matrix.dtype != np.uint8 or matrix.ndim != 2 or matrix.shape[1] != BYTES:
        raise ValueError(f"fingerprints must be a (n, {BYTES}) uint8 array, not {matrix.dtype} {matrix.shape}")
    return np.ascontiguousarray(matrix)


def _file(path: str | Path) -> Path:
    path = Path(path)
    return path / TRAINING_FINGERPRINTS_FILE if path.is_dir() else path


def write_training_fingerprints(
    path: str | Path, values: Sequence[bytes] | np.ndarray, *, dataset_sha256: str, dataset: str = ""
) -> Path:
    """Write the file atomically (temp name + rename); ``path`` is the file or its folder.

    ``values``: a (n, 32) uint8 array or 32-byte strings."""
    path = _file(path)
    matrix = _as_matrix(values)
    metadata = {"format": FORMAT, "count": str(matrix.shape[0]), "dataset_sha256": dataset_sha256, "dataset": dataset}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({_TENSOR: matrix}, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def training_image_fingerprint(path: str | Path) -> bytes:
    """One training file's registry fingerprint (alpha kept on loading, composited on white)."""
    from effigies.gan.data import load_image  # torch: only where a dataset is read

    return fingerprint(Image.fromarray(load_image(path, channels=4)))


def fingerprint_dataset(
    data_dir: str | Path, out_dir: str | Path, *, progress_fn: Callable[[int, int], None] | None = None
) -> Path:
    """Write ``training_fingerprints.safetensors`` for a dataset folder into ``out_dir`` (next
    to the generator); every PNG/JPEG of the folder, in file-name order."""
    from effigies.gan.data import list_images

    paths = list_images(data_dir)
    if not paths:
        raise ValueError(f"no PNG/JPEG images in {data_dir}")
    values = np.empty((len(paths), BYTES), dtype=np.uint8)
    for i, path in enumerate(paths):
        values[i] = np.frombuffer(training_image_fingerprint(path), dtype=np.uint8)
        if progress_fn is not None and ((i + 1) % 200 == 0 or i + 1 == len(paths)):
            progress_fn(i + 1, len(paths))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_training_fingerprints(
        out_dir / TRAINING_FINGERPRINTS_FILE, values, dataset_sha256=dataset_sha256(paths),
        dataset=Path(data_dir).resolve().name,
    )


def read_training_fingerprints(path: str | Path) -> TrainingFingerprints:
    """Read the file back (``path`` is the file or its folder); checks format, shape and count."""
    path = _file(path)
    with safe_open(str(path), framework="numpy") as fh:
        metadata = fh.metadata() or {}
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown training fingerprint format {metadata.get('format')!r}")
    tensors = load_file(str(path))
    if _TENSOR not in tensors:
        raise ValueError(f"{path}: no {_TENSOR!r} tensor")
    values = tensors[_TENSOR]
    if values.dtype != np.uint8 or values.ndim != 2 or values.shape[1] != BYTES:
        raise ValueError(f"{path}: {_TENSOR!r} must be a (n, {BYTES}) uint8 tensor, not {values.dtype} {values.shape}")
    if metadata.get("count") != str(values.shape[0]):
        raise ValueError(f"{path}: metadata count {metadata.get('count')} != {values.shape[0]} fingerprints")
    return TrainingFingerprints(values=values, dataset_sha256=metadata.get("dataset_sha256", ""), dataset=metadata.get("dataset", ""))
