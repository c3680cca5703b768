"""Configuration dataclasses for the DCGAN (no globals anywhere in effigies.gan)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DCGANConfig:
    """Network hyper-parameters of the DCGAN paper (Radford et al., 2015).

    ``image_size`` is fixed at 64 by the architecture (4 -> 8 -> 16 -> 32 -> 64).
    """

    nz: int = 100  # size of the latent vector z
    ngf: int = 64  # generator feature maps
    ndf: int = 64  # discriminator feature maps
    nc: int = 3  # image channels
    image_size: int = 64

    def __post_init__(self) -> None:
        if self.image_size != 64:
            raise ValueError("the DCGAN architecture here produces 64x64 images only")
        for name in ("nz", "ngf", "ndf", "nc"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive")

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DCGANConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: int(v) for k, v in data.items() if k in names})


@dataclass
class TrainOptions:
    """Everything :func:`effigies.gan.train.train` needs.

    Give either ``total_images`` (images shown to D, the run stops once this many
    were seen) or ``epochs`` (passes over the dataset); if both are None one
    epoch is trained.
    """

    data_dir: str
    out_dir: str
    model: DCGANConfig = field(default_factory=DCGANConfig)
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    total_images: int | None = None
    epochs: float | None = None
    sample_every: int = 500  # steps between sample grids (0 = only at the end)
    sample_every_s: float | None = 120.0  # also write a grid at least this often (seconds)
    checkpoint_every: int = 1000  # steps between checkpoints (0 = only at the end)
    checkpoint_every_s: float | None = 300.0  # also checkpoint at least this often (seconds)
    log_every: int = 10  # steps between stats.jsonl lines / progress callbacks
    seed: int = 0
    num_threads: int | None = None  # torch CPU threads (None = torch default)
    device: str = "auto"  # "auto" (cuda if available else cpu), "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"  # "auto", "fp32" or "bf16" (bf16 autocast; CPU and CUDA)
    channels_last: bool | None = None  # None = on for CPU, off for CUDA
    # Cheap, well-known stabilisers (off = exact paper recipe).
    real_label: float = 1.0  # one-sided label smoothing when < 1 (e.g. 0.9)
    # Instance noise (Sonderby et al. 2016): N(0, sigma) added to D's real and fake
    # inputs, sigma annealed linearly from instance_noise to 0 over
    # instance_noise_images images (None = the whole run). 0 = off.
    instance_noise: float = 0.0
    instance_noise_images: int | None = None
    # DiffAugment policy ("color,translation,cutout", "" = off, "auto" = on for
    # datasets under 5,000 images), applied to real and fake images in both steps.
    diffaugment: str = ""
    # EMA of G's weights for sampling/export: half-life in images (0 = off),
    # ramped up over the first images (half-life <= ema_rampup x images seen).
    ema_images: int = 0
    ema_rampup: float | None = 0.05
    n_samples: int = 64  # fixed-noise grid size (8x8)
    dataset_name: str | None = None  # recorded in exports; default: data_dir's folder name

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = DCGANConfig.from_dict(self.model)
        self.data_dir = str(self.data_dir)
        self.out_dir = str(self.out_dir)
        if self.batch_size <= 0:
            raise ValueError("batch_size must be positive")
        if self.total_images is not None and self.total_images <= 0:
            raise ValueError("total_images must be positive")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError("epochs must be positive")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError("precision must be 'auto', 'fp32' or 'bf16'")
        if self.instance_noise < 0:
            raise ValueError("instance_noise must be >= 0")
        if self.diffaugment != "auto":
            from .augment import parse_policy

            parse_policy(self.diffaugment)  # raises ValueError on unknown names
        if self.ema_images < 0:
            raise ValueError("ema_images must be >= 0")
        if not 0.0 < self.real_label <= 1.0:
            raise ValueError("real_label must be in (0, 1]")

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if "model" in kwargs and isinstance(kwargs["model"], dict):
            kwargs["model"] = DCGANConfig.from_dict(kwargs["model"])
        return cls(**kwargs)
