"""The worker's sampler: one warm generator per process, concurrent jobs merged into batches,
and every job gets exactly the images it would have got alone."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from effigies.gan.checkpoint import load_generator
from effigies.gan.sample import latents, sample
from effigies.generation import sampler

WEIGHTS = Path(__file__).resolve().parents[2] / "effigies" / "themes" / "pretrained" / "pixel-heroes"


def test_concurrent_jobs_share_one_generator_and_batches_without_changing_images():
    version = "test-sampler-pixel-heroes"
    seeds = list(range(100, 112))
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(seeds))
    # The batch closes on an event, not a clock: when the 12th job's latents arrive (12 x 4 =
    # max_batch). max_wait_s is only a generous deadline, however slowly the threads get there.
    max_batch, deadline_s = 4 * len(seeds), 120.0

    def job(seed: int) -> None:
        start.wait()
        results[seed] = sampler.generate(version, WEIGHTS, n=4, seed=seed, max_batch=max_batch, max_wait_s=deadline_s)

    threads = [threading.Thread(target=job, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2 * deadline_s)
    assert not any(t.is_alive() for t in threads) and sorted(results) == seeds

    batcher, _ = sampler.batcher_for(version, WEIGHTS, max_batch=max_batch, max_wait_s=deadline_s)
    assert sampler.loaded_versions().count(version) == 1
    # All 12 jobs in one forward pass, of exactly max_batch latents.
    assert batcher.passes == 1

    generator, config = load_generator(WEIGHTS)
    for seed in seeds:
        alone = sample(generator, latents(4, config.nz, seed=seed))
        assert results[seed].shape == (4, 64, 64, 3)
        # Eval-mode BatchNorm: an image depends on its latent only; float sums may differ in
        # the last bit between batch sizes, hence at most 1/255 on a pixel.
        assert np.abs(results[seed].astype(int) - alone.astype(int)).max() <= 1


def test_a_failing_forward_pass_reaches_every_waiting_job():
    import torch

    class Broken(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, z):
            raise RuntimeError("out of memory")

    batcher = sampler.MicroBatcher(Broken(), max_batch=8, max_wait_s=0.05)
    errors = []

    def job() -> None:
        try:
            batcher.generate(torch.zeros(2, 100, 1, 1))
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=job) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == ["out of memory"] * 3
