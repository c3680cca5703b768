"""``training_phashes.safetensors``: the pHashes of a generator's training images, kept with its weights.

The sale filter refuses near-copies of training images, so every model version
must ship the fingerprints of the images it learned from; the images themselves
(10k+ PNGs, someone else's artwork) do not ship. One int64 tensor "phash", in
the registry's encoding (the unsigned 64 pHash bits reinterpreted as a signed
bigint, see :func:`effigies.uniqueness.service.phash`), plus string metadata:
``format``, ``count``, ``dataset_sha256``, ``dataset``.

numpy + safetensors only: the API process reads this at start-up without torch.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

TRAINING_PHASHES_FILE = "training_phashes.safetensors"
FORMAT = "effigies-training-phashes/1"


@dataclass(frozen=True)
class TrainingPhashes:
    hashes: np.ndarray  # int64, one per training image, in file-name order
    dataset_sha256: str
    dataset: str

    @property
    def count(self) -> int:
        return int(self.hashes.shape[0])

    def as_ints(self) -> list[int]:
        return [int(h) for h in self.hashes]


def dataset_sha256(paths: Iterable[Path]) -> str:
    """One digest for a dataset: every file's name and bytes, in the given (sorted) order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def write_training_phashes(
    path: str | Path, hashes: Sequence[int] | np.ndarray, *, dataset_sha256: str, dataset: str = ""
) -> Path:
    """Write the file atomically (temp name + rename); ``path`` is the file or its folder."""
    path = Path(path)
    if path.is_dir():
        path = path / TRAINING_PHASHES_FILE
    values = np.asarray(hashes, dtype=np.int64).reshape(-1)
    metadata = {"format": FORMAT, "count": str(values.shape[0]), "dataset_sha256": dataset_sha256, "dataset": dataset}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({"phash": np.ascontiguousarray(values)}, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def read_training_phashes(path: str | Path) -> TrainingPhashes:
    """Read the file back (``path`` is the file or its folder); checks format and count."""
    path = Path(path)
    if path.is_dir():
        path = path / TRAINING_PHASHES_FILE
    with safe_open(str(path), framework="numpy") as fh:
        metadata = fh.metadata() or {}
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown training pHash format {metadata.get('format')!r}")
    hashes = load_file(str(path))["phash"]
    if hashes.dtype != np.int64 or hashes.ndim != 1:
        raise ValueError(f"{path}: 'phash' must be a 1-D int64 tensor")
    if int(metadata.get("count", -1)) != hashes.shape[0]:
        raise ValueError(f"{path}: metadata count {metadata.get('count')} != {hashes.shape[0]} hashes")
    return TrainingPhashes(hashes=hashes, dataset_sha256=metadata.get("dataset_sha256", ""), dataset=metadata.get("dataset", ""))
