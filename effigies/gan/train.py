"""Resumable DCGAN training loop (a plain function: CLI, Celery task and tests call it).

Run folder layout (``options.out_dir``)::

    options.json                 options of the latest start
    fixed_noise.safetensors      the fixed latent batch behind every sample grid
    stats.jsonl                  one JSON line every ``log_every`` steps
    samples/step_XXXXXX.png      8x8 grids from the fixed noise
    checkpoints/step_XXXXXX.safetensors + .json   (last few kept)
    checkpoints/latest.json      pointer to the newest complete checkpoint

Starting again with the same ``out_dir`` continues from the newest checkpoint.
Nothing here ever uses pickle / ``torch.load``: tensors live in safetensors
files, everything else in JSON.

The loop: :func:`start` (build, then resume from the newest checkpoint: effigies/gan/trainstate.py),
then per step :func:`optimise` (one D and one G update, effigies/gan/step.py, then the EMA),
:func:`log_step` (stats.jsonl + progress) and :func:`save_on_schedule` (sample grid, checkpoint),
and :func:`finish` (final checkpoint and grid, summary).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable

import torch

from .checkpoint import CHECKPOINT_DIR, latest_checkpoint
from .config import TrainOptions
from .data import normalize
from .rundir import SAMPLES_DIR, STATS_FILE, grid_generator, load_fixed_noise
from .sample import sample as sample_images
from .sample import save_grid
from .step import StepResult, train_step
from .trainstate import (  # noqa: F401  (AUTO_AUGMENT_BELOW, resolve_augment: public here too)
    AUTO_AUGMENT_BELOW,
    RunSetup,
    TrainState,
    build_state,
    open_latest_checkpoint,
    resolve_augment,
    resume,
    save_checkpoint,
    setup_run,
    write_options,
)

ProgressFn = Callable[[dict[str, Any]], None]
AbortFn = Callable[[], bool]


@dataclass
class Progress:
    """What this start reports, and when: callback, grid latents, clocks, the latest numbers.

    Nothing here is checkpointed except the elapsed time.
    """

    emit: ProgressFn
    fixed_noise: torch.Tensor  # the latents of every sample grid
    t_start: float
    info: dict[str, Any]  # the latest progress numbers, sent with every event
    last_ckpt_step: int  # -1: this start has no checkpoint yet
    last_ckpt_t: float = 0.0
    last_sample_t: float = 0.0
    window_t: float = 0.0  # start of the images/s measurement window
    window_images: int = 0
    images_per_s: float = 0.0
    aborted: bool = False
    stats: IO[str] | None = field(default=None, repr=False)

    def elapsed(self, state: TrainState, now: float | None = None) -> float:
        return state.elapsed_before + ((time.perf_counter() if now is None else now) - self.t_start)


def train(
    options: TrainOptions,
    *,
    progress_fn: ProgressFn | None = None,
    abort_fn: AbortFn | None = None,
) -> dict[str, Any]:
    """Train (or resume) a DCGAN; returns a run summary dict.

    ``progress_fn(info)`` gets dicts with ``event`` ("start", "step",
    "sample", "checkpoint", "done"), ``step``, ``total_steps``, ``images``,
    ``total`` (images), ``loss_d``, ``loss_g``, ``d_x``, ``d_g_z``,
    ``images_per_s``, ``elapsed_s``, ``eta_s``.
    ``abort_fn()`` is polled every step; when it returns True a checkpoint is
    written and the function returns with ``summary["aborted"] = True``.
    """
    setup, state = start(options)
    progress = start_progress(setup, state, progress_fn)
    progress.emit({**progress.info, "event": "start"})
    if state.step == 0:
        write_samples(setup, state, progress)  # what the initialised generator produces
    progress.stats = open(setup.run_dir / STATS_FILE, "a", encoding="utf-8")
    try:
        state.netG.train()
        state.netD.train()
        while state.step < setup.total_steps:
            if abort_fn is not None and abort_fn():
                progress.aborted = True
                break
            result, sigma, b = optimise(setup, state)
            progress.window_images += b
            now = time.perf_counter()
            if state.step % max(1, options.log_every) == 0 or state.step == setup.total_steps:
                log_step(setup, state, progress, result, sigma=sigma, now=now)
            if state.step < setup.total_steps:
                save_on_schedule(setup, state, progress, now=now)
    finally:
        progress.stats.close()
    return finish(setup, state, progress)


def start(options: TrainOptions) -> tuple[RunSetup, TrainState]:
    """The run folder, the data and the state: fresh, or the newest checkpoint's."""
    run_dir = Path(options.out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SAMPLES_DIR).mkdir(exist_ok=True)
    (run_dir / CHECKPOINT_DIR).mkdir(exist_ok=True)
    ckpt = open_latest_checkpoint(run_dir)
    setup = setup_run(options, ckpt)
    state = build_state(setup, fresh=ckpt is None)
    if ckpt is not None:
        resume(state, setup, ckpt)
    write_options(setup, state)
    return setup, state


def start_progress(setup: RunSetup, state: TrainState, progress_fn: ProgressFn | None) -> Progress:
    """This start's clocks and first progress numbers (and the run's fixed noise, made once)."""
    def emit(info: dict[str, Any]) -> None:
        if progress_fn is not None:
            progress_fn(info)

    fixed_noise = load_fixed_noise(setup.run_dir, setup.config.nz, setup.options.n_samples, setup.options.seed)
    t_start = time.perf_counter()
    info = {
        "step": state.step,
        "total_steps": setup.total_steps,
        "images": state.step * setup.batch_size,
        "total": setup.total_images,
        "loss_d": None,
        "loss_g": None,
        "d_x": None,
        "d_g_z": None,
        "images_per_s": 0.0,
        "elapsed_s": state.elapsed_before,
        "eta_s": None,
        "device": str(setup.device),
        "precision": setup.precision,
        "resumed": state.resumed,
    }
    return Progress(
        emit=emit, fixed_noise=fixed_noise, t_start=t_start, info=info,
        last_ckpt_step=state.step if state.resumed else -1,
        last_ckpt_t=t_start, last_sample_t=t_start, window_t=t_start,
    )


def instance_noise_sigma(setup: RunSetup, step: int) -> float:
    """Std of the instance noise at ``step``: linear fade to 0 over instance_noise_images."""
    options = setup.options
    if options.instance_noise <= 0:
        return 0.0
    span = options.instance_noise_images or setup.total_images
    return options.instance_noise * max(0.0, 1.0 - step * setup.batch_size / span)


def optimise(setup: RunSetup, state: TrainState) -> tuple[StepResult, float, int]:
    """One D update, one G update and the EMA update on the next batch.

    Returns D's and G's losses and outputs, the instance noise used and the batch size.
    """
    options, step = setup.options, state.step
    idx = state.sampler.next()
    real = normalize(setup.data[idx.to(setup.data.device)]).to(setup.device, non_blocking=True)
    real = real.contiguous(memory_format=setup.memory_format)
    b = real.shape[0]
    noise = torch.randn(b, setup.config.nz, 1, 1, device=setup.device, generator=state.noise_gen)
    sigma = instance_noise_sigma(setup, step)
    result = train_step(
        netG=state.netG, netD=state.netD, optG=state.optG, optD=state.optD,
        real=real, noise=noise, rng=state.noise_gen,
        real_label=float(options.real_label), instance_noise=sigma, augment=setup.augment,
        autocast=setup.autocast, memory_format=setup.memory_format, loss=options.loss,
        # Lazy R1 (StyleGAN2): every r1_every steps, weighted by the interval.
        r1_gamma=options.r1_gamma * options.r1_every if options.r1_gamma and step % options.r1_every == 0 else 0.0,
        lecam=options.lecam, lecam_state=state.lecam,
    )
    if state.ema is not None:
        state.ema.update(state.netG, images_seen=(step + 1) * setup.batch_size, batch_size=b)
    state.step += 1
    return result, sigma, b


def log_step(setup: RunSetup, state: TrainState, progress: Progress, result: StepResult, *, sigma: float, now: float) -> None:
    """Losses, D's outputs and speed: one stats.jsonl line and a "step" event."""
    step, batch_size = state.step, setup.batch_size
    loss_d = float(result.err_d_real.item() + result.err_d_fake.item())
    loss_g = float(result.err_g.item())
    d_x = float(torch.sigmoid(result.out_real.detach()).mean().item())
    d_g_z = float(torch.sigmoid(result.out_fake.detach()).mean().item())
    d_g_z2 = float(torch.sigmoid(result.out_g.detach()).mean().item())
    dt = now - progress.window_t
    if dt > 0:
        progress.images_per_s = progress.window_images / dt
    progress.window_t, progress.window_images = now, 0
    images_per_s = progress.images_per_s
    elapsed = progress.elapsed(state, now)
    eta = (setup.total_steps - step) * batch_size / images_per_s if images_per_s > 0 else None
    progress.info = {
        **progress.info, "step": step, "images": step * batch_size, "loss_d": loss_d, "loss_g": loss_g,
        "d_x": d_x, "d_g_z": d_g_z, "d_g_z2": d_g_z2, "images_per_s": images_per_s, "elapsed_s": elapsed, "eta_s": eta,
    }
    line = {
        "step": step,
        "images": step * batch_size,
        "epoch": round(step * batch_size / setup.n_images, 4),
        "loss_d": round(loss_d, 5),
        "loss_g": round(loss_g, 5),
        "d_x": round(d_x, 5),
        "d_g_z": round(d_g_z, 5),
        "d_g_z2": round(d_g_z2, 5),
        "images_per_s": round(images_per_s, 2),
        "instance_noise": round(sigma, 4),
        "time": round(elapsed, 2),
        "wall": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    progress.stats.write(json.dumps(line) + "\n")
    progress.stats.flush()
    progress.emit({**progress.info, "event": "step"})


def save_on_schedule(setup: RunSetup, state: TrainState, progress: Progress, *, now: float) -> None:
    """A sample grid and/or a checkpoint when their step or seconds interval is due."""
    options, step = setup.options, state.step
    if (options.sample_every and step % options.sample_every == 0) or (
        options.sample_every_s is not None and now - progress.last_sample_t >= options.sample_every_s
    ):
        write_samples(setup, state, progress)
        progress.last_sample_t = time.perf_counter()
    if (options.checkpoint_every and step % options.checkpoint_every == 0) or (
        options.checkpoint_every_s is not None and now - progress.last_ckpt_t >= options.checkpoint_every_s
    ):
        checkpoint(setup, state, progress, "periodic")
        progress.last_ckpt_t = time.perf_counter()


def checkpoint(setup: RunSetup, state: TrainState, progress: Progress, reason: str) -> Path:
    """Save the state now ("periodic", "abort" or "end") and report it."""
    path = save_checkpoint(setup, state, elapsed_s=progress.elapsed(state), reason=reason)
    progress.last_ckpt_step = state.step
    images = state.step * setup.batch_size
    progress.emit({**progress.info, "event": "checkpoint", "step": state.step, "images": images, "path": str(path)})
    return path


def write_samples(setup: RunSetup, state: TrainState, progress: Progress) -> Path:
    """samples/step_XXXXXX.png: the fixed noise through G (its EMA copy when there is one)."""
    g = grid_generator(state.sampling_generator, setup.device, seed=setup.options.seed)
    imgs = sample_images(g, progress.fixed_noise)
    path = setup.run_dir / SAMPLES_DIR / f"step_{state.step:06d}.png"
    save_grid(imgs, path, nrow=int(round(math.sqrt(len(imgs)))) or 8)
    images = state.step * setup.batch_size
    progress.emit({**progress.info, "event": "sample", "step": state.step, "images": images, "path": str(path)})
    return path


def finish(setup: RunSetup, state: TrainState, progress: Progress) -> dict[str, Any]:
    """The last checkpoint (unless this step has one) and grid; returns the run summary."""
    if state.step != progress.last_ckpt_step:
        final_ckpt = checkpoint(setup, state, progress, "abort" if progress.aborted else "end")
    else:
        final_ckpt = latest_checkpoint(setup.run_dir)
    if not progress.aborted:
        write_samples(setup, state, progress)
    summary = summarise(setup, state, progress, final_ckpt)
    progress.emit({**progress.info, "event": "done", "summary": summary})
    return summary


def summarise(setup: RunSetup, state: TrainState, progress: Progress, final_ckpt: Path | None) -> dict[str, Any]:
    options = setup.options
    return {
        "run_dir": str(setup.run_dir),
        "step": state.step,
        "total_steps": setup.total_steps,
        "images_seen": state.step * setup.batch_size,
        "total_images": setup.total_images,
        "finished": state.step >= setup.total_steps,
        "aborted": progress.aborted,
        "resumed": state.resumed,
        "checkpoint": str(final_ckpt) if final_ckpt else None,
        "elapsed_s": progress.elapsed(state),
        "images_per_s": progress.info.get("images_per_s", 0.0),
        "loss_d": progress.info.get("loss_d"),
        "loss_g": progress.info.get("loss_g"),
        "device": str(setup.device),
        "precision": setup.precision,
        "channels_last": setup.channels_last,
        "diffaugment": ",".join(setup.augment),
        "ema_images": options.ema_images,
        "config": setup.config.to_dict(),
        "dataset_name": setup.dataset_name,
        "n_images": setup.n_images,
    }
