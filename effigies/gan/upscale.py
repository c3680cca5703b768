"""A theme's own 64 -> 256 px upscaler, trained on its art (ESPCN family, Shi et al. 2016).

Why not Lanczos: a generator's 64 px image enlarged 4x with a smooth filter is soft, rings
around edges and magnifies the generator's grain. The theme's sources re-render crisply at
256 px, so a small network learns, from pairs (64 px image, its 256 px render), what this
theme's edges, outlines and flat fills look like at 4x. The 64 px side of each pair is
**degraded the way generator output is** (a little noise, blur, colour drift, shifted
sub-pixel grid), so the network cleans grain while it enlarges instead of copying it.

Network (:class:`Upscaler`), for C = 4 channels of premultiplied RGBA in [0, 1]::

    x (N, 4, 64, 64)
    conv5x5 4 -> w, ReLU          (N, w, 64, 64)      w = ``UpscalerConfig.width`` (32)
    [conv3x3 w -> w, ReLU] x b    (N, w, 64, 64)      b = ``UpscalerConfig.blocks`` (1)
    conv3x3 w -> 16 * 4           (N, 64, 64, 64)
    PixelShuffle(4)               (N, 4, 256, 256)    the learned detail
    + bilinear x4 of x            (N, 4, 256, 256)    so an untrained net is a plain enlargement

Alpha: the network works on premultiplied RGBA (colour x alpha, alpha), where a transparent
pixel is (0, 0, 0, 0) whatever colour its file stores, so edges never bleed a hidden colour;
the result is un-premultiplied once. RGB images go through with alpha 1 and come out RGB.
Training also composites a share of the pairs on a random solid colour, so one upscaler
serves a theme's transparent and opaque generators alike.

Files: ``upscaler.safetensors`` (float32 weights) + ``upscaler.json`` (config, training
summary); training checkpoints ``checkpoints/upscaler_step_XXXXXX.safetensors`` + ``.json``
(weights, Adam moments, step, RNG state), resumed by :func:`train_upscaler`.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from .data import list_images

UPSCALER_WEIGHTS = "upscaler.safetensors"
UPSCALER_META = "upscaler.json"
UPSCALER_FORMAT = "effigies-upscaler/1"
LOW, HIGH = 64, 256


@dataclass(frozen=True)
class UpscalerConfig:
    width: int = 32
    blocks: int = 1  # 2 blocks cost 9.2 ms of CPU per avatar, 1 block 7.7 ms (budget: 10 ms)
    scale: int = 4
    channels: int = 4  # premultiplied RGBA; RGB goes through with alpha 1

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UpscalerConfig":
        known = {k: d[k] for k in ("width", "blocks", "scale", "channels") if k in d}
        cfg = cls(**known)
        if cfg.scale != 4 or cfg.channels != 4 or not (4 <= cfg.width <= 128) or not (0 <= cfg.blocks <= 8):
            raise ValueError(f"unsupported upscaler config {d}")
        return cfg


class Upscaler(nn.Module):
    def __init__(self, config: UpscalerConfig = UpscalerConfig()):
        super().__init__()
        self.config = config
        c, w, s = config.channels, config.width, config.scale
        layers: list[nn.Module] = [nn.Conv2d(c, w, 5, padding=2), nn.ReLU(inplace=True)]
        for _ in range(config.blocks):
            layers += [nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(w, c * s * s, 3, padding=1), nn.PixelShuffle(s)]
        self.body = nn.Sequential(*layers)
        # The last conv starts near zero: training begins from the bilinear enlargement.
        nn.init.normal_(self.body[-2].weight, std=1e-3)
        nn.init.zeros_(self.body[-2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=self.config.scale, mode="bilinear", align_corners=False)
        return base + self.body(x)


# --------------------------------------------------------------------------- alpha helpers
def premultiply(x: torch.Tensor) -> torch.Tensor:
    """Straight RGBA (N, 4, H, W) in [0, 1] -> premultiplied."""
    return torch.cat([x[:, :3] * x[:, 3:], x[:, 3:]], dim=1)


def unpremultiply(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0, 1)
    a = x[:, 3:]
    rgb = torch.where(a > 1e-3, x[:, :3] / a.clamp_min(1e-3), torch.zeros_like(x[:, :3]))
    return torch.cat([rgb.clamp(0, 1), a], dim=1)


def _to_input(image: np.ndarray) -> tuple[torch.Tensor, int]:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[:2] != (LOW, LOW) or arr.shape[2] not in (3, 4):
        raise ValueError(f"the upscaler takes a uint8 (64, 64, 3|4) image, got {arr.dtype} {arr.shape}")
    c = arr.shape[2]
    x = torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    if c == 3:
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    return premultiply(x), c


# --------------------------------------------------------------------------- inference
class LoadedUpscaler:
    """A callable uint8 (64, 64, C) -> uint8 (256, 256, C), C = 3 or 4 as given."""

    def __init__(self, net: Upscaler, meta: dict[str, Any]):
        # channels_last: oneDNN's convolutions run ~10 % (width 32) to ~40 % (width 16) faster.
        self.net = net.eval().to(memory_format=torch.channels_last)
        self.meta = meta

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        x, c = _to_input(image)
        y = unpremultiply(self.net(x.contiguous(memory_format=torch.channels_last)))[0]
        out = (y * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
        if c == 3:
            return np.ascontiguousarray(out[..., :3])
        out = np.ascontiguousarray(out)
        out[out[..., 3] == 0, :3] = 0
        return out


def load_upscaler(folder: str | Path) -> LoadedUpscaler:
    """The upscaler stored in ``folder`` (``upscaler.safetensors`` + ``upscaler.json``).
    Raises when either file is missing or does not describe this network: never a silent fallback."""
    folder = Path(folder)
    meta = json.loads((folder / UPSCALER_META).read_text(encoding="utf-8"))
    if meta.get("format") != UPSCALER_FORMAT:
        raise ValueError(f"{folder / UPSCALER_META}: not an {UPSCALER_FORMAT} file")
    net = Upscaler(UpscalerConfig.from_dict(meta["config"]))
    state = load_file(str(folder / UPSCALER_WEIGHTS))
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return LoadedUpscaler(net, meta)


# --------------------------------------------------------------------------- data
def load_pairs(
    low_dir: str | Path, high_dir: str | Path, *, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The images present in both folders (same file name), as straight RGBA uint8 tensors:
    (N, 4, 64, 64) and (N, 4, 256, 256). Other sizes are brought there with Lanczos."""
    high = {p.name: p for p in list_images(high_dir)}
    names = [p.name for p in list_images(low_dir) if p.name in high]
    if limit is not None and len(names) > limit:
        # An even spread over the sorted names: every icon family, not the first few.
        names = [names[int(i * len(names) / limit)] for i in range(limit)]
    if not names:
        raise ValueError(f"no image of {low_dir} has a {HIGH} px render in {high_dir}")
    lo = np.empty((len(names), LOW, LOW, 4), dtype=np.uint8)
    hi = np.empty((len(names), HIGH, HIGH, 4), dtype=np.uint8)
    for i, name in enumerate(names):
        for arr, folder, size in ((lo, Path(low_dir), LOW), (hi, Path(high_dir), HIGH)):
            with Image.open(folder / name) as im:
                im = im.convert("RGBA")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.LANCZOS)
                arr[i] = np.asarray(im)
    to_t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return to_t(lo), to_t(hi), names


def degrade(low: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Premultiplied RGBA batch in [0, 1] -> the same as a generator might have drawn it:
    a sub-pixel shift and slight blur (bilinear resampling of a jittered grid), a small colour
    drift per image and channel, and grain (Gaussian noise, strength drawn per image)."""
    n, c, h, w = low.shape
    dev = low.device
    r = lambda *s: torch.rand(*s, generator=gen, device=dev)  # noqa: E731
    # shift of up to half a pixel and a blur of up to ~0.6 px, as one affine resample
    theta = torch.zeros(n, 2, 3, device=dev)
    zoom = 1.0 + (r(n) - 0.5) * 0.04
    theta[:, 0, 0] = zoom
    theta[:, 1, 1] = zoom
    theta[:, :, 2] = (r(n, 2) - 0.5) * (1.0 / h)
    grid = F.affine_grid(theta, list(low.shape), align_corners=False)
    x = F.grid_sample(low, grid, mode="bilinear", padding_mode="border", align_corners=False)
    blur = r(n, 1, 1, 1) * 0.6
    x = (1 - blur) * x + blur * F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    gain = 1.0 + (r(n, c, 1, 1) - 0.5) * 0.08
    gain[:, 3:] = 1.0
    x = x * gain + (r(n, c, 1, 1) - 0.5) * 0.04 * x[:, 3:]
    sigma = r(n, 1, 1, 1) * 0.05
    noise = torch.randn(x.shape, generator=gen, device=dev) * sigma
    x = x + noise * torch.cat([x[:, 3:].expand(-1, 3, -1, -1), torch.ones_like(x[:, 3:])], dim=1)
    x = x.clamp(0, 1)
    a = x[:, 3:]
    return torch.cat([torch.minimum(x[:, :3], a), a], dim=1)  # premultiplied: colour <= alpha


def make_batch(
    low_u8: torch.Tensor, high_u8: torch.Tensor, idx: torch.Tensor, gen: torch.Generator, *,
    crop: int = 32, opaque_share: float = 0.3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned random crops (``crop`` px of the 64, 4 x that of the 256), a share of them
    composited on a random solid colour, flipped at random; the low side degraded."""
    n = idx.numel()
    s = LOW // 1
    y0 = torch.randint(0, s - crop + 1, (n,), generator=gen)
    x0 = torch.randint(0, s - crop + 1, (n,), generator=gen)
    lo = torch.stack([low_u8[i, :, y : y + crop, x : x + crop] for i, y, x in zip(idx.tolist(), y0.tolist(), x0.tolist())])
    hi = torch.stack([
        high_u8[i, :, 4 * y : 4 * (y + crop), 4 * x : 4 * (x + crop)] for i, y, x in zip(idx.tolist(), y0.tolist(), x0.tolist())
    ])
    lo, hi = premultiply(lo.float() / 255.0), premultiply(hi.float() / 255.0)
    opaque = (torch.rand(n, generator=gen) < opaque_share).view(n, 1, 1, 1).float()
    colour = torch.rand(n, 3, 1, 1, generator=gen)
    for t in (lo, hi):
        a = t[:, 3:]
        flat = torch.cat([t[:, :3] + colour * (1 - a), torch.ones_like(a)], dim=1)
        t.copy_(opaque * flat + (1 - opaque) * t)
    flip = torch.rand(n, generator=gen) < 0.5
    lo[flip], hi[flip] = lo[flip].flip(-1), hi[flip].flip(-1)
    return degrade(lo, gen), hi


# --------------------------------------------------------------------------- training
def _checkpoint_paths(run_dir: Path, step: int) -> tuple[Path, Path]:
    base = run_dir / "checkpoints" / f"upscaler_step_{step:06d}"
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def _latest(run_dir: Path) -> int | None:
    pointer = run_dir / "checkpoints" / "upscaler_latest.json"
    if not pointer.is_file():
        return None
    return int(json.loads(pointer.read_text())["step"])


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.chmod(tmp, 0o644)  # safetensors writes 0600; shipped files are read by other users' processes
    os.replace(tmp, path)


def _save_checkpoint(run_dir: Path, step: int, net: Upscaler, opt: torch.optim.Adam, gen: torch.Generator,
                     meta: dict[str, Any]) -> None:
    tensors = {f"net.{k}": v.detach().clone() for k, v in net.state_dict().items()}
    for i, p in enumerate(net.parameters()):
        st = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in st:
                tensors[f"opt.{i}.{key}"] = st[key].detach().clone()
        if "step" in st:
            tensors[f"opt.{i}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(1)
    tensors["rng"] = gen.get_state()
    weights, info = _checkpoint_paths(run_dir, step)
    _atomic(weights, lambda t: save_file({k: v.contiguous() for k, v in tensors.items()}, str(t)))
    _atomic(info, lambda t: t.write_text(json.dumps({**meta, "step": step}, indent=2)))
    _atomic(run_dir / "checkpoints" / "upscaler_latest.json", lambda t: t.write_text(json.dumps({"step": step})))
    for old in sorted((run_dir / "checkpoints").glob("upscaler_step_*.safetensors"))[:-2]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)


def _load_checkpoint(run_dir: Path, step: int, net: Upscaler, opt: torch.optim.Adam, gen: torch.Generator) -> dict:
    weights, info = _checkpoint_paths(run_dir, step)
    tensors = load_file(str(weights))
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    for i, p in enumerate(net.parameters()):
        if f"opt.{i}.exp_avg" in tensors:
            opt.state[p] = {
                "step": torch.tensor(float(tensors[f"opt.{i}.step"][0])),
                "exp_avg": tensors[f"opt.{i}.exp_avg"].clone(),
                "exp_avg_sq": tensors[f"opt.{i}.exp_avg_sq"].clone(),
            }
    gen.set_state(tensors["rng"])
    return json.loads(info.read_text())


def train_upscaler(
    low_dir: str | Path,
    high_dir: str | Path,
    run_dir: str | Path,
    *,
    steps: int = 3000,
    batch_size: int = 32,
    crop: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    config: UpscalerConfig = UpscalerConfig(),
    limit: int | None = 4096,
    checkpoint_every_s: float = 120.0,
    progress_fn: Callable[[dict[str, Any]], None] | None = None,
    abort_fn: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Train (or resume) an upscaler on the pairs of ``low_dir`` (64 px) and ``high_dir``
    (256 px renders of the same files). L1 loss on premultiplied RGBA; the learning rate falls
    as a cosine to 1/20 of ``lr`` over ``steps``. Returns a summary; stops early (checkpointed)
    when ``abort_fn`` says so."""
    run_dir = Path(run_dir)
    low, high, names = load_pairs(low_dir, high_dir, limit=limit)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = Upscaler(config)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    step, elapsed_before = 0, 0.0
    latest = _latest(run_dir)
    if latest is not None:
        info = _load_checkpoint(run_dir, latest, net, opt, gen)
        step, elapsed_before = info["step"], float(info.get("elapsed_s", 0.0))
        if UpscalerConfig.from_dict(info["config"]) != config:
            raise ValueError(f"{run_dir} holds an upscaler run with another config: {info['config']}")
    meta = {"config": asdict(config), "pairs": len(names), "steps": steps, "batch_size": batch_size, "crop": crop,
            "lr": lr, "seed": seed, "low_dir": str(low_dir), "high_dir": str(high_dir)}
    t0 = time.perf_counter()
    last_ckpt = t0
    loss_avg = None
    net.train()
    aborted = False
    while step < steps:
        if abort_fn is not None and abort_fn():
            aborted = True
            break
        for group in opt.param_groups:
            group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        idx = torch.randint(0, low.shape[0], (batch_size,), generator=gen)
        x, y = make_batch(low, high, idx, gen, crop=crop)
        loss = F.l1_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        value = loss.item()
        loss_avg = value if loss_avg is None else 0.98 * loss_avg + 0.02 * value
        now = time.perf_counter()
        if progress_fn is not None and (step % 20 == 0 or step == steps):
            progress_fn({"event": "step", "step": step, "steps": steps, "loss": loss_avg,
                         "elapsed_s": elapsed_before + now - t0})
        if now - last_ckpt >= checkpoint_every_s and step < steps:
            _save_checkpoint(run_dir, step, net, opt, gen, {**meta, "elapsed_s": elapsed_before + now - t0})
            last_ckpt = now
    elapsed = elapsed_before + time.perf_counter() - t0
    _save_checkpoint(run_dir, step, net, opt, gen, {**meta, "elapsed_s": elapsed, "loss": loss_avg})
    return {**meta, "step": step, "finished": step >= steps, "aborted": aborted, "elapsed_s": elapsed, "loss": loss_avg}


def export_upscaler(run_dir: str | Path, out_dir: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write the run's latest weights as ``upscaler.safetensors`` + ``upscaler.json`` in ``out_dir``."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    step = _latest(run_dir)
    if step is None:
        raise FileNotFoundError(f"no upscaler checkpoint in {run_dir}")
    weights, info_path = _checkpoint_paths(run_dir, step)
    info = json.loads(info_path.read_text())
    tensors = {k[4:]: v.contiguous() for k, v in load_file(str(weights)).items() if k.startswith("net.")}
    Upscaler(UpscalerConfig.from_dict(info["config"])).load_state_dict(tensors)  # refuses a broken run
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic(out_dir / UPSCALER_WEIGHTS, lambda t: save_file(tensors, str(t)))
    meta = {"format": UPSCALER_FORMAT, "config": info["config"], "training": {
        k: info.get(k) for k in ("pairs", "steps", "batch_size", "crop", "lr", "seed", "elapsed_s", "loss")
    } | {"step": step}, **(extra or {})}
    _atomic(out_dir / UPSCALER_META, lambda t: t.write_text(json.dumps(meta, indent=2) + "\n"))
    return out_dir / UPSCALER_WEIGHTS
