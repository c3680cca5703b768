"""Sampling helpers: latents, generator -> uint8 images, grid PNGs.

BatchNorm and sampling mode (the choice made here)
--------------------------------------------------
DCGAN's generator has BatchNorm. Train mode (per-batch statistics, what the
pytorch example samples with) makes an image depend on the other latents in
its batch, which is unacceptable when one latent = one owned avatar. Eval
mode with the running statistics accumulated *during* training (momentum
0.1) is batch-independent but those statistics lag behind the last weight
updates, which is what makes DCGAN eval-mode samples look washed out on some
runs.

So the exported generator stores BatchNorm statistics recomputed from the
final weights on 32 x 128 random latents
(:func:`effigies.gan.model.recalibrate_batchnorm`) and sampling always runs in
**eval mode**: every image is a pure function of its latent (one image alone
and the same latent inside a batch of 8 give the same pixels, see the tests).
Checked on the Galactic droids run (step 786, 64 latents): all three modes
looked alike there; mean |difference| to batch-statistics sampling was 7.4/255
for the training running stats and 3.1/255 for the recalibrated stats, so the
recalibrated eval mode is the closest batch-independent match.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .alpha import COMPOSITE_BACKGROUND, composite


def latents(n: int, nz: int = 100, seed: int = 0) -> torch.Tensor:
    """``n`` standard-normal latent vectors (n, nz, 1, 1), deterministic in ``seed``."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(int(n), int(nz), 1, 1, generator=gen)


# Alpha this close to 0 or 255 is G's noise, not a soft edge: a background at alpha 3 would
# show as a faint square on a dark page, and stray specks at 10-30 as grain around the figure.
# Measured on the RGBA emoji and sigils runs (256 samples at ~150k images vs 512 training
# images): alpha in 9-31 was 1.9 % / 3.0 % of G's pixels against 0.4 % of the art's, and
# 224-246 was 2.8 % / 5.6 % against 0.5 % / 0.4 %; the art's own soft edges in those bands
# are under 1 % of its pixels, so snapping them costs no visible edge.
ALPHA_CLEAN = 32


def snap_to_palette(images: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW images -> the same with every pixel replaced by its nearest palette colour
    (squared distance over the channels; ``palette`` is uint8 (K, C))."""
    n, c, h, w = images.shape
    pixels = images.permute(0, 2, 3, 1).reshape(-1, c).float()
    colours = palette.to(device=images.device).float()
    nearest = torch.cdist(pixels, colours).argmin(dim=1)
    return palette.to(images.device)[nearest].reshape(n, h, w, c).permute(0, 3, 1, 2)


def deliver(x: torch.Tensor, generator: nn.Module) -> torch.Tensor:
    """G's float output (N, nc, S, S) in [-1, 1] -> the delivered uint8 images (N, nc, 64, 64).

    Palette snapping happens on G's own grid, then each cell becomes a block of
    ``64 / S`` pixels (nearest neighbour), so a grid generator's image is crisp blocks of
    palette colours by construction. RGBA alpha near 0 or 255 is cleaned to exactly that.
    """
    x = ((x.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    palette = getattr(generator, "palette", None)
    if palette is not None and palette.numel():
        x = snap_to_palette(x, palette)
    if x.shape[1] == 4:
        alpha = x[:, 3]
        alpha[alpha < ALPHA_CLEAN] = 0
        alpha[alpha > 255 - ALPHA_CLEAN] = 255
    factor = 64 // x.shape[-1]
    if factor > 1:
        x = x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    return x


@torch.no_grad()
def sample(generator: nn.Module, latents: torch.Tensor, *, batch_size: int = 256) -> np.ndarray:
    """Generate the delivered images for ``latents``: uint8 numpy array (N, 64, 64, nc).

    nc is 3 (RGB) or 4 (RGBA, straight alpha). Runs the generator in eval mode (see
    the module docstring); the module's previous train/eval mode is restored afterwards.
    """
    if latents.dim() == 2:
        latents = latents[:, :, None, None]
    param = next(generator.parameters())
    nc = int(getattr(getattr(generator, "config", None), "nc", 3))
    was_training = generator.training
    generator.eval()
    try:
        chunks = []
        for start in range(0, latents.shape[0], batch_size):
            z = latents[start : start + batch_size].to(device=param.device, dtype=param.dtype)
            x = deliver(generator(z), generator)
            chunks.append(x.permute(0, 2, 3, 1).contiguous().cpu())
        out = torch.cat(chunks) if chunks else torch.empty(0, 64, 64, nc, dtype=torch.uint8)
    finally:
        generator.train(was_training)
    return out.numpy()


def make_grid(
    images: np.ndarray, *, nrow: int = 8, padding: int = 2, pad_value: int = 255, scale: int = 1,
    background: tuple[int, int, int] = COMPOSITE_BACKGROUND,
) -> Image.Image:
    """Tile uint8 NHWC images into one RGB PIL image (``nrow`` images per row; RGBA composited
    over ``background``)."""
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim == 4 and images.shape[-1] == 4:
        images = composite(images, background)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError("expected uint8 images of shape (N, H, W, 3) or (N, H, W, 4)")
    n, h, w, c = images.shape
    ncol = max(1, min(nrow, n))
    nrows = max(1, -(-n // ncol))
    grid = np.full(
        (nrows * h + (nrows + 1) * padding, ncol * w + (ncol + 1) * padding, c), pad_value, dtype=np.uint8
    )
    for i in range(n):
        r, col = divmod(i, ncol)
        y = padding + r * (h + padding)
        x = padding + col * (w + padding)
        grid[y : y + h, x : x + w] = images[i]
    img = Image.fromarray(grid[..., 0] if c == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return img.convert("RGB")


def save_grid(images: np.ndarray, path: str | Path, **kwargs) -> Path:
    """Write :func:`make_grid` as a PNG (atomically: temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    make_grid(images, **kwargs).save(tmp, format="PNG")
    tmp.replace(path)
    return path
