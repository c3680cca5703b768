"""One DCGAN optimisation step (D then G), shared by the training loop and the benchmark."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch
from torch import nn

from .augment import diff_augment


@dataclass
class StepResult:
    err_d_real: torch.Tensor
    err_d_fake: torch.Tensor
    err_g: torch.Tensor
    out_real: torch.Tensor  # D logits on the real batch
    out_fake: torch.Tensor  # D logits on the fake batch (D step)
    out_g: torch.Tensor  # D logits on the fake batch (G step)


_criterion = nn.BCEWithLogitsLoss()


def train_step(
    *,
    netG: nn.Module,
    netD: nn.Module,
    optG: torch.optim.Optimizer,
    optD: torch.optim.Optimizer,
    real: torch.Tensor,
    noise: torch.Tensor,
    rng: torch.Generator | None = None,
    real_label: float = 1.0,
    instance_noise: float = 0.0,
    augment: tuple[str, ...] = (),
    autocast: Callable[[], ContextManager] = nullcontext,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> StepResult:
    """The paper's alternating update, with the optional stabilisers of TrainOptions.

    ``rng`` drives instance noise and DiffAugment so a resumed run draws the
    same numbers as an uninterrupted one. DiffAugment is applied to every
    image D sees: the real and the fake batch of the D step and the fake batch
    of the G step (augmenting reals only would teach G to produce augmented
    images).
    """
    device = real.device

    def noisy(x: torch.Tensor) -> torch.Tensor:
        if instance_noise <= 0:
            return x
        eps = torch.randn(x.shape, device=device, generator=rng).to(dtype=x.dtype, memory_format=memory_format)
        return x + instance_noise * eps

    # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
    netD.zero_grad(set_to_none=True)
    real = noisy(real)
    with autocast():
        out_real = netD(diff_augment(real, augment, rng)).float()
    err_d_real = _criterion(out_real, torch.full_like(out_real, real_label))
    err_d_real.backward()
    with autocast():
        fake = noisy(netG(noise))
        out_fake = netD(diff_augment(fake.detach(), augment, rng)).float()
    err_d_fake = _criterion(out_fake, torch.zeros_like(out_fake))
    err_d_fake.backward()
    optD.step()

    # (2) Update G: maximize log(D(G(z)))
    netG.zero_grad(set_to_none=True)
    with autocast():
        out_g = netD(diff_augment(fake, augment, rng)).float()
    err_g = _criterion(out_g, torch.ones_like(out_g))
    err_g.backward()
    optG.step()
    return StepResult(err_d_real, err_d_fake, err_g, out_real, out_fake, out_g)
