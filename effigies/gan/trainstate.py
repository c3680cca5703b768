"""What one start of a training run fixes (:class:`RunSetup`) and what its checkpoints carry (:class:`TrainState`).

:func:`effigies.gan.train.train` builds both here: :func:`setup_run` resolves the options on
this machine and loads the data, :func:`build_state` creates the networks, optimisers and EMA,
:func:`resume` restores the newest checkpoint into them and :func:`save_checkpoint` writes one.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ContextManager

import torch

from .augment import parse_policy
from .checkpoint import GENERATOR_WEIGHTS, latest_checkpoint, load_training_checkpoint, prune_checkpoints, save_training_checkpoint
from .config import DCGANConfig, TrainOptions
from .data import BatchSampler, learn_palette, load_image_folder
from .ema import GeneratorEMA
from .model import Discriminator, Generator, build_models
from .rundir import OPTIONS_FILE, STATS_FILE, atomic_write_text, truncate_stats
from .runtime import match_optimizer_layout, resolve_device, resolve_precision
from .step import LeCamState

# DiffAugment pays off when D can memorise the data; above this many images
# "auto" leaves it off (the paper recipe, measured fine on 10,000 bottts).
AUTO_AUGMENT_BELOW = 5_000
# Offset of the training noise generator's seed from options.seed.
NOISE_SEED_OFFSET = 7919


def resolve_augment(policy: str, n_images: int) -> tuple[str, ...]:
    if policy == "auto":
        return parse_policy("color,translation,cutout") if n_images < AUTO_AUGMENT_BELOW else ()
    return parse_policy(policy)


@dataclass
class RunSetup:
    """The options of one start as resolved on this machine, the data and the schedule."""

    options: TrainOptions
    run_dir: Path
    device: torch.device
    precision: str  # "fp32" or "bf16"
    channels_last: bool
    config: DCGANConfig  # a resumed run keeps its checkpoint's architecture
    data: torch.Tensor  # uint8 (N, C, S, S), on the GPU when training there
    total_images: int
    batch_size: int
    total_steps: int
    augment: tuple[str, ...]
    dataset_name: str

    @property
    def n_images(self) -> int:
        return int(self.data.shape[0])

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def lr_g(self) -> float:
        return self.options.lr_g or self.options.lr

    @property
    def lr_d(self) -> float:
        return self.options.lr_d or self.options.lr

    @property
    def autocast(self) -> Callable[[], ContextManager]:
        if self.precision == "bf16":
            return lambda: torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext


@dataclass
class TrainState:
    """Everything a checkpoint saves, and the position of the run."""

    netG: Generator
    netD: Discriminator
    optG: torch.optim.Optimizer
    optD: torch.optim.Optimizer
    ema: GeneratorEMA | None
    lecam: LeCamState
    sampler: BatchSampler
    noise_gen: torch.Generator  # latents, instance noise and DiffAugment draws
    step: int = 0
    elapsed_before: float = 0.0  # training seconds of earlier starts of this run
    resumed: bool = False

    @property
    def sampling_generator(self) -> Generator:
        """The weights sample grids are drawn from: the EMA copy when there is one."""
        return self.ema.model if self.ema is not None else self.netG


def configure_torch(options: TrainOptions) -> tuple[torch.device, str, bool]:
    """Threads and backend flags; returns (device, precision, channels_last)."""
    if options.num_threads:
        torch.set_num_threads(int(options.num_threads))
    device = resolve_device(options.device)
    precision = resolve_precision(options.precision, device)
    channels_last = options.channels_last if options.channels_last is not None else device.type == "cpu"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device, precision, channels_last


def open_latest_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    path = latest_checkpoint(run_dir)
    return load_training_checkpoint(path) if path is not None else None


def setup_run(options: TrainOptions, ckpt: dict[str, Any] | None) -> RunSetup:
    """Resolve the device and schedule and load the data (uint8, in memory)."""
    device, precision, channels_last = configure_torch(options)
    # The architecture is fixed for the lifetime of a run.
    config = DCGANConfig.from_dict(ckpt["meta"]["config"]) if ckpt is not None else options.model
    data = load_image_folder(options.data_dir, config.image_size, channels=config.nc)
    n_images = int(data.shape[0])
    if device.type == "cuda":
        data = data.to(device)
    if options.total_images is not None:
        total_images = int(options.total_images)
    else:
        total_images = int(round((options.epochs if options.epochs is not None else 1.0) * n_images))
    batch_size = min(int(options.batch_size), n_images)
    return RunSetup(
        options=options,
        run_dir=Path(options.out_dir),
        device=device,
        precision=precision,
        channels_last=channels_last,
        config=config,
        data=data,
        total_images=total_images,
        batch_size=batch_size,
        total_steps=max(1, math.ceil(total_images / batch_size)),
        augment=resolve_augment(options.diffaugment, n_images),
        dataset_name=options.dataset_name or Path(options.data_dir).resolve().name,
    )


def build_state(setup: RunSetup, *, fresh: bool) -> TrainState:
    """Networks, optimisers, EMA, LeCam anchors, batch order and noise generator of step 0."""
    options, config = setup.options, setup.config
    netG, netD = build_models(config, seed=options.seed)
    if fresh and options.init_generator:
        warm_start(netG, options.init_generator, config)  # palette included
    elif config.palette and fresh:  # a resumed run's palette comes with its weights
        netG.palette.copy_(learn_palette(setup.data.cpu(), config.palette, seed=options.seed))
    netG.to(device=setup.device, memory_format=setup.memory_format)
    netD.to(device=setup.device, memory_format=setup.memory_format)
    betas = (options.beta1, options.beta2)
    ema = None
    if options.ema_images:
        ema = GeneratorEMA(netG, half_life_images=options.ema_images, rampup=options.ema_rampup)
    return TrainState(
        netG=netG,
        netD=netD,
        optG=torch.optim.Adam(netG.parameters(), lr=setup.lr_g, betas=betas),
        optD=torch.optim.Adam(netD.parameters(), lr=setup.lr_d, betas=betas),
        ema=ema,
        lecam=LeCamState(decay=options.lecam_decay),
        sampler=BatchSampler(setup.n_images, setup.batch_size, seed=options.seed),
        noise_gen=torch.Generator(device=setup.device).manual_seed(options.seed + NOISE_SEED_OFFSET),
    )


def warm_start(netG: Generator, source: str | Path, config: DCGANConfig) -> None:
    """Copy an exported generator's weights into ``netG``; ValueError when its network differs."""
    from .checkpoint import load_generator

    path = Path(source)
    if path.is_dir():
        path = path / GENERATOR_WEIGHTS
    if not path.is_file():
        raise ValueError(f"init_generator: no exported generator at {source}")
    g, its_config = load_generator(path)
    if its_config.to_dict() != config.to_dict():
        raise ValueError(f"init_generator: {source} has another network ({its_config.to_dict()}) than this run ({config.to_dict()})")
    netG.load_state_dict(g.state_dict())


def resume(state: TrainState, setup: RunSetup, ckpt: dict[str, Any]) -> None:
    """Continue ``state`` from ``ckpt``: same weights, moments, batch order and random draws."""
    meta, options = ckpt["meta"], setup.options
    state.netG.load_state_dict(ckpt["G"])
    state.netD.load_state_dict(ckpt["D"])
    state.optG.load_state_dict(ckpt["optG"])
    state.optD.load_state_dict(ckpt["optD"])
    if state.ema is not None:
        # A run started without EMA gets one from the live weights at this point.
        state.ema.load_state_dict(ckpt["G_ema"] if ckpt["G_ema"] else ckpt["G"])
    for opt, lr in ((state.optG, setup.lr_g), (state.optD, setup.lr_d)):  # keep the lr/betas of *this* start (allows tuning)
        for group in opt.param_groups:
            group["lr"] = lr
            group["betas"] = (options.beta1, options.beta2)
    state.lecam.real, state.lecam.fake = (float(v) for v in meta.get("lecam_ema", (0.0, 0.0)))
    match_optimizer_layout(state.optG)
    match_optimizer_layout(state.optD)
    state.sampler.load_state(ckpt["sampler"], meta["sampler"])
    if torch.device(meta.get("noise_device", "cpu")).type == setup.device.type:
        state.noise_gen.set_state(ckpt["rng"]["noise"])
    else:  # resumed on another kind of device: RNG states are not portable
        state.noise_gen.manual_seed(options.seed + NOISE_SEED_OFFSET + int(meta["step"]))
    state.step = int(meta["step"])
    state.elapsed_before = float(meta.get("elapsed_s", 0.0))
    state.resumed = True
    truncate_stats(setup.run_dir / STATS_FILE, state.step)


def write_options(setup: RunSetup, state: TrainState) -> None:
    """options.json: the options of this start and what they resolved to."""
    options = setup.options
    record = options.to_dict()
    record["resolved"] = {
        "device": str(setup.device),
        "precision": setup.precision,
        "channels_last": setup.channels_last,
        "diffaugment": ",".join(setup.augment) or "off",
        "ema_images": options.ema_images or "off",
        "batch_size": setup.batch_size,
        "n_images": setup.n_images,
        "total_images": setup.total_images,
        "total_steps": setup.total_steps,
        "torch": torch.__version__,
        "resumed_from_step": state.step,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    record["model"] = setup.config.to_dict()
    atomic_write_text(setup.run_dir / OPTIONS_FILE, json.dumps(record, indent=2) + "\n")


def save_checkpoint(setup: RunSetup, state: TrainState, *, elapsed_s: float, reason: str) -> Path:
    """checkpoints/step_XXXXXX.safetensors + .json (and latest.json); keeps the newest three."""
    options = setup.options
    path = save_training_checkpoint(
        setup.run_dir,
        step=state.step,
        images_seen=state.step * setup.batch_size,
        config=setup.config,
        netG=state.netG,
        netD=state.netD,
        optG=state.optG,
        optD=state.optD,
        sampler=state.sampler,
        noise_gen=state.noise_gen,
        netG_ema=state.ema.model if state.ema is not None else None,
        extra={
            "elapsed_s": elapsed_s,
            "total_images": setup.total_images,
            "dataset_name": setup.dataset_name,
            "reason": reason,
            "precision": setup.precision,
            "real_label": float(options.real_label),
            "instance_noise": options.instance_noise,
            "diffaugment": ",".join(setup.augment),
            "ema_images": options.ema_images,
            "loss": options.loss,
            "lr_g": setup.lr_g,
            "lr_d": setup.lr_d,
            "r1_gamma": options.r1_gamma,
            "lecam": options.lecam,
            "lecam_ema": [state.lecam.real, state.lecam.fake],
        },
    )
    prune_checkpoints(setup.run_dir, keep=3)
    return path
