"""Exponential moving average of the generator's weights (used for sampling and export).

The averaged weights give smoother, less "jittery" samples than the live G,
whose weights chase a moving discriminator. As in StyleGAN2-ADA the decay is
given as a half-life in *images* (independent of the batch size) and ramped up
at the start (half-life at most ``rampup`` x images seen) so the early average
is not dominated by the random initialisation.

BatchNorm: the EMA copy carries the live G's running statistics, which do not
belong to the averaged weights (the pitfall that gives washed-out samples).
Every consumer of the EMA weights (sample grids, export) therefore recomputes
the BatchNorm statistics from the EMA weights themselves
(:func:`effigies.gan.model.recalibrate_batchnorm`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    def __init__(self, netG: nn.Module, *, half_life_images: float, rampup: float | None = 0.05) -> None:
        if half_life_images <= 0:
            raise ValueError("half_life_images must be positive")
        self.half_life_images = float(half_life_images)
        self.rampup = rampup
        self.model = copy.deepcopy(netG)
        self.model.requires_grad_(False)
        self.model.eval()

    def beta(self, images_seen: int, batch_size: int) -> float:
        half_life = self.half_life_images
        if self.rampup:
            half_life = min(half_life, images_seen * self.rampup)
        return 0.5 ** (batch_size / max(half_life, 1e-8))

    @torch.no_grad()
    def update(self, netG: nn.Module, *, images_seen: int, batch_size: int) -> None:
        beta = self.beta(images_seen, batch_size)
        ema_params = list(self.model.parameters())
        live_params = [p.detach() for p in netG.parameters()]
        torch._foreach_lerp_(ema_params, live_params, 1.0 - beta)
        for b_ema, b in zip(self.model.buffers(), netG.buffers()):
            b_ema.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
