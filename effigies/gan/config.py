"""Configuration dataclasses for the DCGAN (no globals anywhere in effigies.gan)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DELIVERED_SIZE = 64  # every generator's delivered image is 64 x 64 (the registry's and the shop's size)
IMAGE_SIZES = (8, 16, 32, 64)
D_NORMS = ("batch", "spectral")
LOSSES = ("bce", "hinge")


@dataclass
class DCGANConfig:
    """Network hyper-parameters of the DCGAN paper (Radford et al., 2015) and our few departures.

    ``image_size`` is the side G draws: 64 (the paper's 4 -> 8 -> 16 -> 32 -> 64), or 32 / 16
    for art on a coarser grid (pixel art: one output pixel per cell; the delivered 64 px image
    is that grid enlarged by nearest neighbour, see :func:`effigies.gan.sample.sample`).
    ``nc`` is 3 (RGB) or 4 (RGBA, straight alpha). The other fields default to the paper and
    are the recipe study's arms (``scripts/bench_recipes.py``):

    - ``d_norm``: "batch" (the paper) or "spectral" (spectral normalisation on every D
      convolution in place of D's BatchNorm, Miyato et al. 2018);
    - ``mbstd``: ProGAN's minibatch standard deviation as one extra feature map at 4x4 in D;
    - ``mirror``: G draws the left half and the right half is its mirror image;
    - ``palette``: number of colours G's output is snapped to at sampling time (0 = off),
      stored as a buffer of G learned from the training pixels.
    """

    nz: int = 100  # size of the latent vector z
    ngf: int = 64  # generator feature maps
    ndf: int = 64  # discriminator feature maps
    nc: int = 3  # image channels: 3 = RGB, 4 = RGBA
    image_size: int = 64
    d_norm: str = "batch"
    mbstd: bool = False
    mirror: bool = False
    palette: int = 0

    def __post_init__(self) -> None:
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {', '.join(map(str, IMAGE_SIZES))} (a divisor grid of 64)")
        for name in ("nz", "ngf", "ndf"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.nc not in (3, 4):
            raise ValueError("nc must be 3 (RGB) or 4 (RGBA)")
        if self.d_norm not in D_NORMS:
            raise ValueError(f"d_norm must be one of {', '.join(D_NORMS)}")
        if not 0 <= int(self.palette) <= 256:
            raise ValueError("palette must be between 0 (off) and 256 colours")

    @property
    def cell(self) -> int:
        """Side in delivered pixels of one cell of G's grid (1 at full resolution)."""
        return DELIVERED_SIZE // self.image_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DCGANConfig":
        kinds = {f.name: f.type for f in dataclasses.fields(cls)}
        out: dict[str, Any] = {}
        for k, v in data.items():
            if k not in kinds:
                continue
            kind = kinds[k]
            out[k] = str(v) if kind == "str" else bool(v) if kind == "bool" else int(v)
        return cls(**out)


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
    # Loss and regularisers (the recipe study's arms; defaults = the paper).
    loss: str = "bce"  # "bce" (non-saturating, the paper's) or "hinge" (Miyato et al. 2018)
    lr_g: float | None = None  # two time-scale update rule: G's and D's own rates (None = lr)
    lr_d: float | None = None
    r1_gamma: float = 0.0  # zero-centred gradient penalty on reals (Mescheder et al. 2018); 0 = off
    r1_every: int = 16  # lazy R1: every this many steps, scaled up by it (StyleGAN2)
    lecam: float = 0.0  # LeCam regularisation weight (Tseng et al. 2021); 0 = off
    lecam_decay: float = 0.99  # EMA decay of D's mean outputs that LeCam anchors to
    n_samples: int = 64  # fixed-noise grid size (8x8)
    dataset_name: str | None = None  # recorded in exports; default: data_dir's folder name
    # Warm start: a fresh run's G (and its EMA) start from this exported generator (same
    # config), D from scratch; a session too short for a whole run continues a shipped one.
    init_generator: str | None = None

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
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}")
        for name in ("lr", "lr_g", "lr_d"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive")
        if self.r1_gamma < 0 or self.lecam < 0:
            raise ValueError("r1_gamma and lecam must be >= 0")
        if self.r1_every < 1:
            raise ValueError("r1_every must be >= 1")
        if not 0.0 < self.lecam_decay < 1.0:
            raise ValueError("lecam_decay must be in (0, 1)")

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
