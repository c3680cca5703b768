"""Each worker process keeps every generator it uses warm and micro-batches concurrent jobs.

The generate worker runs its tasks in threads (`effigies worker --pool threads`), so the jobs
of one process share one copy of each generator, loaded on first use. A job hands its latents
to the model's batcher thread and waits; the batcher collects requests until it has
`max_batch` latents or `max_wait_s` has passed since the first one, runs one forward pass and
hands each job its images. One pass over 16 latents costs far less than four passes over 4,
so under load throughput grows while a lone job waits at most `max_wait_s` extra.
Images are a pure function of their latent (eval-mode BatchNorm, effigies.gan.sample), so
batching never changes what a job gets.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from effigies.gan.checkpoint import load_generator
from effigies.gan.sample import latents, sample
from effigies.generation import fairqueue

CHUNK = 16  # latents per forward pass asked for by one job or board (generate)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class _Request:
    z: torch.Tensor
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """One generator, one thread: requests in, images out, up to max_batch latents per pass."""

    def __init__(self, generator: torch.nn.Module, *, max_batch: int, max_wait_s: float) -> None:
        self.generator = generator
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.passes = 0  # forward passes run, for the benchmark and the tests
        self._queue: queue.Queue[_Request] = queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name="ee-batcher").start()

    def generate(self, z: torch.Tensor) -> np.ndarray:
        request = _Request(z)
        self._queue.put(request)
        return request.future.result()

    def _collect(self) -> list[_Request]:
        batch = [self._queue.get()]
        size = len(batch[0].z)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch:
            try:
                request = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            batch.append(request)
            size += len(request.z)
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._collect()
            try:
                images = sample(self.generator, torch.cat([r.z for r in batch]).to(device()))
                self.passes += 1
            except BaseException as exc:  # every waiting job must hear about it
                for r in batch:
                    r.future.set_exception(exc)
                continue
            start = 0
            for r in batch:
                r.future.set_result(images[start : start + len(r.z)])
                start += len(r.z)


_lock = threading.Lock()
_batchers: dict[str, tuple[MicroBatcher, object]] = {}


def batcher_for(version_id: str, weights_dir: Path, *, max_batch: int, max_wait_s: float) -> tuple[MicroBatcher, object]:
    """Lazily, in the process that samples (never in a parent before fork), and once."""
    with _lock:
        if version_id not in _batchers:
            generator, config = load_generator(weights_dir, device=device())
            _batchers[version_id] = (MicroBatcher(generator, max_batch=max_batch, max_wait_s=max_wait_s), config)
        return _batchers[version_id]


def loaded_versions() -> list[str]:
    with _lock:
        return list(_batchers)


def generate(version_id: str, weights_dir: Path, *, n: int, seed: int, max_batch: int, max_wait_s: float) -> np.ndarray:
    """n images as uint8 (n, 64, 64, nc), nc = 3 (RGB) or 4 (RGBA, straight alpha) as the
    generator's config says; the same seed gives the same images."""
    batcher, config = batcher_for(version_id, weights_dir, max_batch=max_batch, max_wait_s=max_wait_s)
    z = latents(n, config.nz, seed=seed)
    parts = []
    # A board's 64 in passes of CHUNK: someone else's 4 latents never wait behind a pass of 64
    # (51 ms on 2 cores, against 17 for 16), and a flood's item gives way between passes.
    for start in range(0, n, CHUNK):
        fairqueue.yield_to_others()
        parts.append(batcher.generate(z[start:start + CHUNK]))
    return np.concatenate(parts)
