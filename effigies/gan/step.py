"""One GAN optimisation step (D then G), shared by the training loop and the benchmarks.

The paper's alternating update with the options of TrainOptions: the loss
("bce", the paper's non-saturating form, or "hinge"), one-sided label smoothing,
instance noise, DiffAugment, a lazy R1 penalty and LeCam regularisation.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch
import torch.nn.functional as F
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
    r1: float | None = None  # the R1 penalty of this step (None when not computed)


@dataclass
class LeCamState:
    """Moving averages of D's mean logits on reals and fakes (LeCam's anchors); kept in checkpoints."""

    decay: float = 0.99
    real: float = 0.0
    fake: float = 0.0

    def update(self, out_real: torch.Tensor, out_fake: torch.Tensor) -> None:
        self.real = self.decay * self.real + (1 - self.decay) * float(out_real.detach().mean())
        self.fake = self.decay * self.fake + (1 - self.decay) * float(out_fake.detach().mean())


def d_loss(out_real: torch.Tensor, out_fake: torch.Tensor, loss: str, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
    if loss == "hinge":
        return F.relu(1.0 - out_real).mean(), F.relu(1.0 + out_fake).mean()
    return (
        F.binary_cross_entropy_with_logits(out_real, torch.full_like(out_real, real_label)),
        F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake)),
    )


def g_loss(out_g: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "hinge":
        return -out_g.mean()
    return F.binary_cross_entropy_with_logits(out_g, torch.ones_like(out_g))


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
    loss: str = "bce",
    r1_gamma: float = 0.0,
    lecam: float = 0.0,
    lecam_state: LeCamState | None = None,
) -> StepResult:
    """One D update then one G update.

    ``rng`` drives instance noise and DiffAugment so a resumed run draws the
    same numbers as an uninterrupted one. DiffAugment is applied to every
    image D sees: the real and the fake batch of the D step and the fake batch
    of the G step (augmenting reals only would teach G to produce augmented
    images). ``r1_gamma`` > 0 adds gamma/2 * |grad_x D(x)|^2 on this step's reals
    (the caller passes gamma x interval for lazy regularisation); the gradient is
    taken through the augmentation, with respect to the un-augmented image.
    """
    device = real.device

    def noisy(x: torch.Tensor) -> torch.Tensor:
        if instance_noise <= 0:
            return x
        eps = torch.randn(x.shape, device=device, generator=rng).to(dtype=x.dtype, memory_format=memory_format)
        return x + instance_noise * eps

    # (1) Update D: real images up, fakes down (+ regularisers)
    netD.zero_grad(set_to_none=True)
    real = noisy(real)
    if r1_gamma > 0:
        real = real.detach().requires_grad_(True)
    with autocast():
        out_real = netD(diff_augment(real, augment, rng)).float()
        fake = noisy(netG(noise))
        out_fake = netD(diff_augment(fake.detach(), augment, rng)).float()
    err_d_real, err_d_fake = d_loss(out_real, out_fake, loss, real_label)
    total = err_d_real + err_d_fake
    r1_value = None
    if r1_gamma > 0:
        (grad,) = torch.autograd.grad(out_real.sum(), real, create_graph=True)
        penalty = grad.float().square().sum(dim=(1, 2, 3)).mean()
        total = total + 0.5 * r1_gamma * penalty
        r1_value = float(penalty.detach())
    if lecam > 0 and lecam_state is not None:
        total = total + lecam * (
            F.relu(out_real - lecam_state.fake).square().mean() + F.relu(lecam_state.real - out_fake).square().mean()
        )
        lecam_state.update(out_real, out_fake)
    total.backward()
    optD.step()

    # (2) Update G: fool D
    netG.zero_grad(set_to_none=True)
    with autocast():
        out_g = netD(diff_augment(fake, augment, rng)).float()
    err_g = g_loss(out_g, loss)
    err_g.backward()
    optG.step()
    return StepResult(err_d_real, err_d_fake, err_g, out_real, out_fake, out_g, r1_value)
