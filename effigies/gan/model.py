"""The DCGAN networks of pytorch/examples ``dcgan/main.py``, with the recipe study's options.

Generator: z (nz x 1 x 1) -> ConvTranspose2d stack -> nc x S x S in [-1, 1].
Discriminator: nc x S x S -> Conv2d stack -> one logit per image (no Sigmoid:
the losses work on logits, see step.py).
No pooling and no fully connected layers anywhere. With the default config
(64 px, D with BatchNorm, no mirror) both networks are exactly the paper's, layer
for layer and parameter name for parameter name (generators exported before the
options existed load unchanged). The departures, each an option of DCGANConfig:

- ``image_size`` 32 or 16: G stops upsampling at that size and ends with a 3x3
  stride-1 transposed convolution (a 64 px G's last 4x4 stride-2 layer would
  double the side); D starts with a 3x3 stride-1 convolution so it still has one
  layer per scale (16 -> 8 -> 4);
- ``d_norm="spectral"``: every D convolution is spectrally normalised and D has no
  BatchNorm (BatchNorm in D mixes the real and fake batches' statistics and, per
  Kurach et al. 2019, hurts next to SN);
- ``mbstd``: one extra feature map at 4x4 in D, the standard deviation of each
  feature over a group of 4 images (ProGAN), so D can see a batch without variety;
- ``mirror``: the right half of G's image is the mirror of its left half.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .config import DCGANConfig


def _g_layers(config: DCGANConfig) -> list[nn.Module]:
    nz, ngf, nc, size = config.nz, config.ngf, config.nc, config.image_size
    ups = int(math.log2(size // 4))  # stride-2 layers after the 4x4 projection
    layers: list[nn.Module] = [
        # input is Z: nz x 1 x 1
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 8),
        nn.ReLU(True),
        # state size. (ngf*8) x 4 x 4
    ]
    ch = ngf * 8
    for i in range(ups):
        last = size == 64 and i == ups - 1
        out = nc if last else ch // 2
        layers.append(nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=False))
        if last:
            break  # the paper's 64 px G: this layer draws the image
        layers += [nn.BatchNorm2d(out), nn.ReLU(True)]
        ch = out
        # state size. (ch) x (4 * 2^(i+1)) x (4 * 2^(i+1))
    if size != 64:
        # state size. (ch) x S x S -> (nc) x S x S, one output pixel per grid cell
        layers.append(nn.ConvTranspose2d(ch, nc, 3, 1, 1, bias=False))
    layers.append(nn.Tanh())
    # state size. (nc) x S x S
    return layers


class Generator(nn.Module):
    def __init__(self, config: DCGANConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DCGANConfig()
        self.main = nn.Sequential(*_g_layers(config))
        if config.palette:
            # Filled from the training pixels at the start of a run (train.py); uint8 (K, nc).
            self.register_buffer("palette", torch.zeros(config.palette, config.nc, dtype=torch.uint8))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        x = self.main(z)
        if self.config.mirror:
            # (nc) x S x S: keep the left half, mirror it onto the right
            half = x[..., : x.shape[-1] // 2]
            x = torch.cat([half, half.flip(-1)], dim=-1)
        return x


class MinibatchStdDev(nn.Module):
    """ProGAN's minibatch standard deviation: appends one feature map (mean std over a group)."""

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group, n)
        while n % g:
            g -= 1
        y = x.float().reshape(g, -1, c, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # (n/g) x c x h x w
        y = y.mean(dim=(1, 2, 3)).to(x.dtype)  # one number per group
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, config: DCGANConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DCGANConfig()
        ndf, nc, size = config.ndf, config.nc, config.image_size
        sn = config.d_norm == "spectral"

        def conv(cin: int, cout: int, k: int, s: int, p: int) -> nn.Module:
            layer = nn.Conv2d(cin, cout, k, s, p, bias=sn)
            return spectral_norm(layer) if sn else layer

        def norm(ch: int) -> list[nn.Module]:
            return [] if sn else [nn.BatchNorm2d(ch)]

        downs = int(math.log2(size // 4))  # stride-2 layers down to 4x4
        if size == 64:
            # input is (nc) x 64 x 64 -> (ndf) x 32 x 32, no norm on the input layer
            layers: list[nn.Module] = [conv(nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            ch, downs = ndf, downs - 1
        else:
            # input is (nc) x S x S -> (ndf*8 / 2^downs) x S x S
            ch = ndf * 8 // 2**downs
            layers = [conv(nc, ch, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(downs):
            # state size. (ch) x s x s -> (2ch) x s/2 x s/2
            layers += [conv(ch, ch * 2, 4, 2, 1), *norm(ch * 2), nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        # state size. (ndf*8) x 4 x 4 (+1 map with mbstd)
        if config.mbstd:
            layers.append(MinibatchStdDev())
        layers.append(conv(ch + int(config.mbstd), 1, 4, 1, 0))
        # state size. 1 x 1 x 1 (a logit)
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).reshape(-1)


def weights_init(m: nn.Module) -> None:
    """DCGAN init: conv weights ~ N(0, 0.02); BatchNorm weight ~ N(1, 0.02), bias 0.

    Use as ``net.apply(weights_init)`` (optionally under ``torch.manual_seed``).
    """
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        parametrized = getattr(m, "parametrizations", None)
        # A spectrally normalised layer's weight is computed: initialise the stored original.
        weight = parametrized.weight.original if parametrized is not None and "weight" in parametrized else m.weight
        nn.init.normal_(weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
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
