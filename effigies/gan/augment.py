"""DiffAugment (Zhao et al., 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

With a few hundred training images D memorises them and stops teaching G.
DiffAugment applies the *same kind* of random, differentiable transformations
to real and fake images, in the D step and in the G step, so D never sees an
un-augmented image and G still receives gradients through the transform (the
augmented distribution of fakes must match the augmented distribution of
reals, so the transforms do not leak into the generated images).

Policies: ``color`` (brightness, saturation, contrast), ``translation`` (shift
by up to 1/8 of the side, zero = grey padding) and ``cutout`` (a zeroed square
of half the side). All randomness comes from the ``torch.Generator`` passed in,
so a resumed run draws exactly what an uninterrupted one would.

RGBA batches (4 channels, straight alpha, RGB = black under alpha 0, as
``data.load_image`` stores them): ``color`` changes the three colour channels
only, and what ``translation`` and ``cutout`` uncover is fully transparent
(-1 in every channel). Brightening the alpha channel, or folding it into the
saturation and contrast means, would ask D to tell apart images that differ
in how see-through their background is, a difference no delivered avatar has.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> tuple of names; ``""``/``None``/``"none"`` -> ()."""
    if not policy or policy.strip().lower() in ("none", "off"):
        return ()
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; choose from {', '.join(POLICIES)}")
    return names


def _rand(shape: tuple[int, ...], x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=gen, device=gen.device if gen is not None else x.device).to(
        device=x.device, dtype=x.dtype
    )


def _randint(low: int, high: int, shape: tuple[int, ...], x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    dev = gen.device if gen is not None else x.device
    return torch.randint(low, high, shape, generator=gen, device=dev).to(x.device)


def _color(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    b = x.shape[0]
    x = x + (_rand((b, 1, 1, 1), x, gen) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand((b, 1, 1, 1), x, gen) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (_rand((b, 1, 1, 1), x, gen) + 0.5) + mean  # contrast
    return x


def _fill(x: torch.Tensor) -> float:
    """What uncovered pixels hold: grey (0) for RGB, transparent black (-1) for RGBA."""
    return -1.0 if x.shape[1] == 4 else 0.0


def color(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    if x.shape[1] == 4:
        return torch.cat([_color(x[:, :3], gen), x[:, 3:]], dim=1)
    return _color(x, gen)


def translation(x: torch.Tensor, gen: torch.Generator | None = None, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    th = _randint(-sh, sh + 1, (b, 1, 1), x, gen)
    tw = _randint(-sw, sw + 1, (b, 1, 1), x, gen)
    gb, gh, gw = torch.meshgrid(
        torch.arange(b, device=x.device), torch.arange(h, device=x.device), torch.arange(w, device=x.device),
        indexing="ij",
    )
    # +1 because of the one-pixel zero border: an index that leaves the image lands on it.
    gh = torch.clamp(gh + th + 1, 0, h + 1)
    gw = torch.clamp(gw + tw + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1], value=_fill(x))
    return padded.permute(0, 2, 3, 1)[gb, gh, gw].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, gen: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oh = _randint(0, h + (1 - ch % 2), (b, 1, 1), x, gen)
    ow = _randint(0, w + (1 - cw % 2), (b, 1, 1), x, gen)
    gb, gh, gw = torch.meshgrid(
        torch.arange(b, device=x.device), torch.arange(ch, device=x.device), torch.arange(cw, device=x.device),
        indexing="ij",
    )
    gh = torch.clamp(gh + oh - ch // 2, 0, h - 1)
    gw = torch.clamp(gw + ow - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gh, gw] = 0
    mask = mask.unsqueeze(1)
    fill = _fill(x)
    return x * mask if fill == 0.0 else x * mask + fill * (1 - mask)


_FUNCS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], gen: torch.Generator | None = None) -> torch.Tensor:
    """Apply ``policy`` (a tuple from :func:`parse_policy`) to a batch NCHW in [-1, 1]; keeps its memory format."""
    if not policy:
        return x
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    for name in policy:
        x = _FUNCS[name](x, gen)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
