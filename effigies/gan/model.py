"""The DCGAN networks, exactly as in pytorch/examples ``dcgan/main.py``.

Generator: z (nz x 1 x 1) -> ConvTranspose2d stack -> 3 x 64 x 64 in [-1, 1].
Discriminator: 3 x 64 x 64 -> Conv2d stack -> one logit per image (no Sigmoid:
the training loss is ``BCEWithLogitsLoss``, which is the numerically stable
equivalent of Sigmoid + BCELoss of the original example).
No pooling and no fully connected layers anywhere; BatchNorm everywhere except
the generator's output layer and the discriminator's input layer.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import DCGANConfig


class Generator(nn.Module):
    def __init__(self, config: DCGANConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DCGANConfig()
        nz, ngf, nc = config.nz, config.ngf, config.nc
        self.main = nn.Sequential(
            # input is Z, going into a convolution: nz x 1 x 1
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            # state size. (ngf*8) x 4 x 4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 16 x 16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. (ngf) x 32 x 32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
            # state size. (nc) x 64 x 64
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self, config: DCGANConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DCGANConfig()
        ndf, nc = config.ndf, config.nc
        self.main = nn.Sequential(
            # input is (nc) x 64 x 64
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf) x 32 x 32
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*2) x 16 x 16
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*4) x 8 x 8
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*8) x 4 x 4
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            # state size. 1 x 1 x 1 (a logit)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).reshape(-1)


def weights_init(m: nn.Module) -> None:
    """DCGAN init: conv weights ~ N(0, 0.02); BatchNorm weight ~ N(1, 0.02), bias 0.

    Use as ``net.apply(weights_init)`` (optionally under ``torch.manual_seed``).
    """
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_models(config: DCGANConfig, seed: int | None = None) -> tuple[Generator, Discriminator]:
    """Create and initialise both networks (deterministically when ``seed`` is given)."""
    gen_state = torch.random.get_rng_state() if seed is not None else None
    try:
        if seed is not None:
            torch.manual_seed(seed)
        g = Generator(config)
        g.apply(weights_init)
        d = Discriminator(config)
        d.apply(weights_init)
    finally:
        if gen_state is not None:
            torch.random.set_rng_state(gen_state)
    return g, d


@torch.no_grad()
def recalibrate_batchnorm(
    generator: Generator,
    *,
    n_batches: int = 32,
    batch_size: int = 128,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Generator:
    """Recompute ("freeze") the generator's BatchNorm running statistics.

    Runs ``n_batches`` batches of random latents through G in train mode with a
    cumulative moving average (``momentum=None``), so each BatchNorm layer's
    running mean/var become the population statistics of the *final* weights,
    then switches G to eval mode. Eval-mode samples then match what
    train-mode (batch statistics) sampling gives, while every image depends only
    on its own latent. Modifies ``generator`` in place and returns it.
    """
    if device is None:
        device = next(generator.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    bns = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved_momentum = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all calibration batches
    generator.train()
    nz = generator.config.nz
    try:
        for _ in range(n_batches):
            z = torch.randn(batch_size, nz, 1, 1, generator=gen).to(device)
            generator(z)
    finally:
        for m, mom in zip(bns, saved_momentum):
            m.momentum = mom
        generator.eval()
    return generator
