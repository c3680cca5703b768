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
"""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from .checkpoint import (
    CHECKPOINT_DIR,
    latest_checkpoint,
    load_training_checkpoint,
    prune_checkpoints,
    save_training_checkpoint,
)
from .augment import parse_policy
from .config import DCGANConfig, TrainOptions
from .data import BatchSampler, learn_palette, load_image_folder, normalize
from .ema import GeneratorEMA
from .model import build_models
from .sample import sample as sample_images
from .sample import save_grid
from .rundir import (
    OPTIONS_FILE,
    SAMPLES_DIR,
    STATS_FILE,
    atomic_write_text,
    grid_generator,
    truncate_stats,
    load_fixed_noise,
)
from .runtime import match_optimizer_layout, resolve_device, resolve_precision
from .step import LeCamState, train_step

ProgressFn = Callable[[dict[str, Any]], None]
AbortFn = Callable[[], bool]

# DiffAugment pays off when D can memorise the data; above this many images
# "auto" leaves it off (the paper recipe, measured fine on 10,000 bottts).
AUTO_AUGMENT_BELOW = 5_000


def resolve_augment(policy: str, n_images: int) -> tuple[str, ...]:
    if policy == "auto":
        return parse_policy("color,translation,cutout") if n_images < AUTO_AUGMENT_BELOW else ()
    return parse_policy(policy)


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
    run_dir = Path(options.out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SAMPLES_DIR).mkdir(exist_ok=True)
    (run_dir / CHECKPOINT_DIR).mkdir(exist_ok=True)

    if options.num_threads:
        torch.set_num_threads(int(options.num_threads))
    device = resolve_device(options.device)
    precision = resolve_precision(options.precision, device)
    channels_last = options.channels_last if options.channels_last is not None else device.type == "cpu"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def emit(info: dict[str, Any]) -> None:
        if progress_fn is not None:
            progress_fn(info)

    # ---- data (uint8, in memory) ----
    ckpt_path = latest_checkpoint(run_dir)
    config = options.model
    if ckpt_path is not None:
        ckpt = load_training_checkpoint(ckpt_path)
        # The architecture is fixed for the lifetime of a run.
        config = DCGANConfig.from_dict(ckpt["meta"]["config"])
    else:
        ckpt = None
    data = load_image_folder(options.data_dir, config.image_size, channels=config.nc)
    n_images = int(data.shape[0])
    if device.type == "cuda":
        data = data.to(device)
    if options.total_images is not None:
        total_images = int(options.total_images)
    else:
        total_images = int(round((options.epochs if options.epochs is not None else 1.0) * n_images))
    batch_size = min(int(options.batch_size), n_images)
    augment = resolve_augment(options.diffaugment, n_images)
    total_steps = max(1, math.ceil(total_images / batch_size))

    # ---- resume or start ----
    netG, netD = build_models(config, seed=options.seed)
    if config.palette and ckpt is None:
        netG.palette.copy_(learn_palette(data.cpu(), config.palette, seed=options.seed))
    netG.to(device=device, memory_format=memory_format)
    netD.to(device=device, memory_format=memory_format)
    lr_g, lr_d = options.lr_g or options.lr, options.lr_d or options.lr
    optG = torch.optim.Adam(netG.parameters(), lr=lr_g, betas=(options.beta1, options.beta2))
    optD = torch.optim.Adam(netD.parameters(), lr=lr_d, betas=(options.beta1, options.beta2))
    lecam_state = LeCamState(decay=options.lecam_decay)
    ema = GeneratorEMA(netG, half_life_images=options.ema_images, rampup=options.ema_rampup) if options.ema_images else None
    sampler = BatchSampler(n_images, batch_size, seed=options.seed)
    noise_gen = torch.Generator(device=device).manual_seed(options.seed + 7919)

    step = 0
    elapsed_before = 0.0
    if ckpt is not None:
        meta = ckpt["meta"]
        netG.load_state_dict(ckpt["G"])
        netD.load_state_dict(ckpt["D"])
        optG.load_state_dict(ckpt["optG"])
        optD.load_state_dict(ckpt["optD"])
        if ema is not None:
            # A run started without EMA gets one from the live weights at this point.
            ema.load_state_dict(ckpt["G_ema"] if ckpt["G_ema"] else ckpt["G"])
        for opt, lr in ((optG, lr_g), (optD, lr_d)):  # keep the lr/betas of *this* start (allows tuning)
            for group in opt.param_groups:
                group["lr"] = lr
                group["betas"] = (options.beta1, options.beta2)
        lecam_state.real, lecam_state.fake = (float(v) for v in meta.get("lecam_ema", (0.0, 0.0)))
        match_optimizer_layout(optG)
        match_optimizer_layout(optD)
        sampler.load_state(ckpt["sampler"], meta["sampler"])
        if torch.device(meta.get("noise_device", "cpu")).type == device.type:
            noise_gen.set_state(ckpt["rng"]["noise"])
        else:  # resumed on another kind of device: RNG states are not portable
            noise_gen.manual_seed(options.seed + 7919 + int(meta["step"]))
        step = int(meta["step"])
        elapsed_before = float(meta.get("elapsed_s", 0.0))
        truncate_stats(run_dir / STATS_FILE, step)

    options_record = options.to_dict()
    options_record.update(
        {
            "resolved": {
                "device": str(device),
                "precision": precision,
                "channels_last": channels_last,
                "diffaugment": ",".join(augment) or "off",
                "ema_images": options.ema_images or "off",
                "batch_size": batch_size,
                "n_images": n_images,
                "total_images": total_images,
                "total_steps": total_steps,
                "torch": torch.__version__,
                "resumed_from_step": step,
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        }
    )
    options_record["model"] = config.to_dict()
    atomic_write_text(run_dir / OPTIONS_FILE, json.dumps(options_record, indent=2) + "\n")

    fixed_noise = load_fixed_noise(run_dir, config.nz, options.n_samples, options.seed)
    dataset_name = options.dataset_name or Path(options.data_dir).resolve().name

    autocast = (
        (lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16))
        if precision == "bf16"
        else nullcontext
    )
    real_label = float(options.real_label)

    def checkpoint(reason: str) -> Path:
        path = save_training_checkpoint(
            run_dir,
            step=step,
            images_seen=step * batch_size,
            config=config,
            netG=netG,
            netD=netD,
            optG=optG,
            optD=optD,
            sampler=sampler,
            noise_gen=noise_gen,
            netG_ema=ema.model if ema is not None else None,
            extra={
                "elapsed_s": elapsed_before + (time.perf_counter() - t_start),
                "total_images": total_images,
                "dataset_name": dataset_name,
                "reason": reason,
                "precision": precision,
                "real_label": real_label,
                "instance_noise": options.instance_noise,
                "diffaugment": ",".join(augment),
                "ema_images": options.ema_images,
                "loss": options.loss,
                "lr_g": lr_g,
                "lr_d": lr_d,
                "r1_gamma": options.r1_gamma,
                "lecam": options.lecam,
                "lecam_ema": [lecam_state.real, lecam_state.fake],
            },
        )
        prune_checkpoints(run_dir, keep=3)
        emit({**last_info, "event": "checkpoint", "step": step, "images": step * batch_size, "path": str(path)})
        return path

    def write_samples() -> Path:
        g = grid_generator(ema.model if ema is not None else netG, device, seed=options.seed)
        imgs = sample_images(g, fixed_noise)
        path = run_dir / SAMPLES_DIR / f"step_{step:06d}.png"
        save_grid(imgs, path, nrow=int(round(math.sqrt(len(imgs)))) or 8)
        emit({**last_info, "event": "sample", "step": step, "images": step * batch_size, "path": str(path)})
        return path

    t_start = time.perf_counter()
    last_ckpt_t = last_sample_t = t_start
    window_t, window_images = t_start, 0
    images_per_s = 0.0
    last_info: dict[str, Any] = {
        "step": step,
        "total_steps": total_steps,
        "images": step * batch_size,
        "total": total_images,
        "loss_d": None,
        "loss_g": None,
        "d_x": None,
        "d_g_z": None,
        "images_per_s": 0.0,
        "elapsed_s": elapsed_before,
        "eta_s": None,
        "device": str(device),
        "precision": precision,
        "resumed": ckpt is not None,
    }
    emit({**last_info, "event": "start"})
    if step == 0:
        write_samples()  # what the initialised generator produces

    aborted = False
    last_ckpt_step = step if ckpt is not None else -1
    stats_f = open(run_dir / STATS_FILE, "a", encoding="utf-8")
    try:
        netG.train()
        netD.train()
        while step < total_steps:
            if abort_fn is not None and abort_fn():
                aborted = True
                break
            idx = sampler.next()
            real = normalize(data[idx.to(data.device)]).to(device, non_blocking=True)
            real = real.contiguous(memory_format=memory_format)
            b = real.shape[0]
            noise = torch.randn(b, config.nz, 1, 1, device=device, generator=noise_gen)
            sigma = 0.0
            if options.instance_noise > 0:
                span = options.instance_noise_images or total_images
                sigma = options.instance_noise * max(0.0, 1.0 - step * batch_size / span)
            result = train_step(
                netG=netG,
                netD=netD,
                optG=optG,
                optD=optD,
                real=real,
                noise=noise,
                rng=noise_gen,
                real_label=real_label,
                instance_noise=sigma,
                augment=augment,
                autocast=autocast,
                memory_format=memory_format,
                loss=options.loss,
                # Lazy R1 (StyleGAN2): every r1_every steps, weighted by the interval.
                r1_gamma=options.r1_gamma * options.r1_every if options.r1_gamma and step % options.r1_every == 0 else 0.0,
                lecam=options.lecam,
                lecam_state=lecam_state,
            )
            if ema is not None:
                ema.update(netG, images_seen=(step + 1) * batch_size, batch_size=b)
            err_d_real, err_d_fake, err_g = result.err_d_real, result.err_d_fake, result.err_g
            out_real, out_fake, out_g = result.out_real, result.out_fake, result.out_g

            step += 1
            window_images += b
            now = time.perf_counter()
            if step % max(1, options.log_every) == 0 or step == total_steps:
                loss_d = float(err_d_real.item() + err_d_fake.item())
                loss_g = float(err_g.item())
                d_x = float(torch.sigmoid(out_real.detach()).mean().item())
                d_g_z = float(torch.sigmoid(out_fake.detach()).mean().item())
                d_g_z2 = float(torch.sigmoid(out_g.detach()).mean().item())
                dt = now - window_t
                if dt > 0:
                    images_per_s = window_images / dt
                window_t, window_images = now, 0
                elapsed = elapsed_before + (now - t_start)
                eta = (total_steps - step) * batch_size / images_per_s if images_per_s > 0 else None
                last_info = {
                    **last_info,
                    "step": step,
                    "images": step * batch_size,
                    "loss_d": loss_d,
                    "loss_g": loss_g,
                    "d_x": d_x,
                    "d_g_z": d_g_z,
                    "d_g_z2": d_g_z2,
                    "images_per_s": images_per_s,
                    "elapsed_s": elapsed,
                    "eta_s": eta,
                }
                stats_f.write(
                    json.dumps(
                        {
                            "step": step,
                            "images": step * batch_size,
                            "epoch": round(step * batch_size / n_images, 4),
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
                    )
                    + "\n"
                )
                stats_f.flush()
                emit({**last_info, "event": "step"})

            if step < total_steps:
                if (options.sample_every and step % options.sample_every == 0) or (
                    options.sample_every_s is not None and now - last_sample_t >= options.sample_every_s
                ):
                    write_samples()
                    last_sample_t = time.perf_counter()
                if (options.checkpoint_every and step % options.checkpoint_every == 0) or (
                    options.checkpoint_every_s is not None and now - last_ckpt_t >= options.checkpoint_every_s
                ):
                    checkpoint("periodic")
                    last_ckpt_step = step
                    last_ckpt_t = time.perf_counter()
    finally:
        stats_f.close()

    final_ckpt = None
    if step != last_ckpt_step:
        final_ckpt = checkpoint("abort" if aborted else "end")
    else:
        final_ckpt = latest_checkpoint(run_dir)
    if not aborted:
        write_samples()
    elapsed_total = elapsed_before + (time.perf_counter() - t_start)
    summary = {
        "run_dir": str(run_dir),
        "step": step,
        "total_steps": total_steps,
        "images_seen": step * batch_size,
        "total_images": total_images,
        "finished": step >= total_steps,
        "aborted": aborted,
        "resumed": ckpt is not None,
        "checkpoint": str(final_ckpt) if final_ckpt else None,
        "elapsed_s": elapsed_total,
        "images_per_s": last_info.get("images_per_s", 0.0),
        "loss_d": last_info.get("loss_d"),
        "loss_g": last_info.get("loss_g"),
        "device": str(device),
        "precision": precision,
        "channels_last": channels_last,
        "diffaugment": ",".join(augment),
        "ema_images": options.ema_images,
        "config": config.to_dict(),
        "dataset_name": dataset_name,
        "n_images": n_images,
    }
    emit({**last_info, "event": "done", "summary": summary})
    return summary
