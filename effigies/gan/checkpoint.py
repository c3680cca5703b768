"""Checkpoints and generator export, safetensors + JSON only (never pickle/torch.load).

Training checkpoint = ``checkpoints/step_XXXXXX.safetensors`` (all tensors:
G, D, both Adam optimisers' moment tensors, the batch-order permutation and
the RNG states as uint8 tensors) + ``checkpoints/step_XXXXXX.json`` (step,
images seen, DCGANConfig, optimiser param groups, sampler position, ...) +
``checkpoints/latest.json`` (pointer, written last). Every file is written to
a temporary name and moved into place with ``os.replace``, so a crash leaves
the previous checkpoint intact.

Exported generator = ``generator.safetensors`` (weights, float16 storage by
default, cast back to float32 on load) + ``generator.json`` (DCGANConfig +
metadata).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file

from .config import DCGANConfig
from .model import Generator, recalibrate_batchnorm

CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "latest.json"
CHECKPOINT_FORMAT = "effigies-dcgan-checkpoint/1"
EXPORT_FORMAT = "effigies-dcgan-generator/1"
GENERATOR_WEIGHTS = "generator.safetensors"
GENERATOR_META = "generator.json"


# --------------------------------------------------------------------------- utils
def _atomic_write_bytes_via(path: Path, writer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    writer(tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _atomic_write_json(path: Path, data: Any) -> None:
    def w(tmp: Path) -> None:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")

    _atomic_write_bytes_via(path, w)


def _save_tensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    clean = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    _atomic_write_bytes_via(path, lambda tmp: save_file(clean, str(tmp), metadata=metadata))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _require_safetensors(path: Path) -> Path:
    """Refuse anything that is not a ``.safetensors`` file (no pickle, ever)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"refusing to load {path.name}: only .safetensors files are accepted (no pickle)")
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def _split(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    n = len(prefix)
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix)}


# --------------------------------------------------------------------------- optimiser (de)serialisation
def _optimizer_to_flat(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{prefix}{pid}.{key}"] = val
            else:
                scalars.setdefault(str(pid), {})[key] = val
    groups = []
    for g in sd["param_groups"]:
        gg = {}
        for k, v in g.items():
            gg[k] = list(v) if isinstance(v, tuple) else v
        groups.append(gg)
    return tensors, {"param_groups": groups, "scalar_state": scalars}


def _optimizer_from_flat(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = val
    for pid, st in meta.get("scalar_state", {}).items():
        state.setdefault(int(pid), {}).update(st)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


# --------------------------------------------------------------------------- training checkpoints
def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """Path of the newest complete checkpoint's ``.safetensors`` in ``run_dir`` (or None)."""
    ck_dir = Path(run_dir) / CHECKPOINT_DIR
    pointer = ck_dir / LATEST_FILE
    if pointer.is_file():
        try:
            name = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
            path = ck_dir / name
            if path.is_file() and path.with_suffix(".json").is_file():
                return path
        except (ValueError, KeyError, TypeError):
            pass
    # Fallback: newest pair on disk.
    pairs = sorted(p for p in ck_dir.glob("step_*.safetensors") if p.with_suffix(".json").is_file())
    return pairs[-1] if pairs else None


def save_training_checkpoint(
    run_dir: str | Path,
    *,
    step: int,
    images_seen: int,
    config: DCGANConfig,
    netG: torch.nn.Module,
    netD: torch.nn.Module,
    optG: torch.optim.Optimizer,
    optD: torch.optim.Optimizer,
    sampler,
    noise_gen: torch.Generator,
    netG_ema: torch.nn.Module | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    ck_dir = Path(run_dir) / CHECKPOINT_DIR
    ck_dir.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:06d}"
    tensors: dict[str, torch.Tensor] = {}
    for k, v in netG.state_dict().items():
        tensors[f"G.{k}"] = v
    for k, v in netD.state_dict().items():
        tensors[f"D.{k}"] = v
    if netG_ema is not None:
        for k, v in netG_ema.state_dict().items():
            tensors[f"G_ema.{k}"] = v
    tG, mG = _optimizer_to_flat(optG, "optG.")
    tD, mD = _optimizer_to_flat(optD, "optD.")
    tensors.update(tG)
    tensors.update(tD)
    for k, v in sampler.state_tensors().items():
        tensors[f"sampler.{k}"] = v
    tensors["rng.noise"] = noise_gen.get_state()
    tensors["rng.torch_cpu"] = torch.get_rng_state()
    st_path = ck_dir / f"{name}.safetensors"
    _save_tensors(st_path, tensors, metadata={"format": CHECKPOINT_FORMAT, "step": str(step)})
    meta = {
        "format": CHECKPOINT_FORMAT,
        "step": int(step),
        "images_seen": int(images_seen),
        "config": config.to_dict(),
        "optG": mG,
        "optD": mD,
        "sampler": sampler.state_scalars(),
        "noise_device": str(noise_gen.device),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tensors_file": st_path.name,
        "tensors_sha256": _sha256(st_path),
    }
    if extra:
        meta.update(extra)
    _atomic_write_json(st_path.with_suffix(".json"), meta)
    _atomic_write_json(ck_dir / LATEST_FILE, {"checkpoint": st_path.name, "step": int(step)})
    return st_path


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint back: ``{"meta", "G", "G_ema", "D", "optG", "optD", "sampler", "rng"}``.

    ``G_ema`` is empty for runs trained without EMA.
    """
    st_path = _require_safetensors(Path(path))
    meta = json.loads(st_path.with_suffix(".json").read_text(encoding="utf-8"))
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{st_path}: unknown checkpoint format {meta.get('format')!r}")
    sha = meta.get("tensors_sha256")
    if sha and _sha256(st_path) != sha:
        raise ValueError(f"{st_path}: tensors file does not match its JSON (sha256)")
    tensors = load_file(str(st_path))
    return {
        "meta": meta,
        "G": _split(tensors, "G."),
        "G_ema": _split(tensors, "G_ema."),
        "D": _split(tensors, "D."),
        "optG": _optimizer_from_flat(_split(tensors, "optG."), meta["optG"]),
        "optD": _optimizer_from_flat(_split(tensors, "optD."), meta["optD"]),
        "sampler": _split(tensors, "sampler."),
        "rng": _split(tensors, "rng."),
    }


def prune_checkpoints(run_dir: str | Path, keep: int = 3) -> None:
    """Delete all but the newest ``keep`` checkpoints (never the one latest.json points to)."""
    ck_dir = Path(run_dir) / CHECKPOINT_DIR
    latest = latest_checkpoint(run_dir)
    pairs = sorted(ck_dir.glob("step_*.safetensors"))
    for p in pairs[: max(0, len(pairs) - keep)]:
        if latest is not None and p.name == latest.name:
            continue
        p.unlink(missing_ok=True)
        p.with_suffix(".json").unlink(missing_ok=True)


# --------------------------------------------------------------------------- export / load
def export_generator(
    run_dir_or_state: str | Path | Generator | Mapping[str, Any],
    out_dir: str | Path,
    *,
    dataset_name: str | None = None,
    dtype: torch.dtype = torch.float16,
    recalibrate: bool = True,
    calibration_batches: int = 32,
    calibration_seed: int = 0,
    samples_png: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Export a generator for the product: ``generator.safetensors`` + ``generator.json``.

    ``run_dir_or_state`` is one of: a run folder (its newest checkpoint is
    used), a checkpoint ``.safetensors`` path, a :class:`Generator`, or a mapping
    ``{"generator": state_dict, "config": DCGANConfig | dict, ...metadata}``.
    BatchNorm statistics are recomputed from the weights (see sample.py) unless
    ``recalibrate=False``. With ``samples_png`` an 8x8 ``samples.png`` of fixed
    latents (seed 0) is written next to it. Returns ``out_dir``.
    """
    meta_in: dict[str, Any] = {}
    if isinstance(run_dir_or_state, Generator):
        g = copy.deepcopy(run_dir_or_state).float().cpu()
        config = g.config
    elif isinstance(run_dir_or_state, Mapping):
        config = run_dir_or_state["config"]
        config = config if isinstance(config, DCGANConfig) else DCGANConfig.from_dict(config)
        g = Generator(config)
        g.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in run_dir_or_state["generator"].items()})
        meta_in = {k: v for k, v in run_dir_or_state.items() if k not in ("generator", "config")}
    else:
        p = Path(run_dir_or_state)
        ck = latest_checkpoint(p) if p.is_dir() else _require_safetensors(p)
        if ck is None:
            raise FileNotFoundError(f"no checkpoint in {p}")
        state = load_training_checkpoint(ck)
        config = DCGANConfig.from_dict(state["meta"]["config"])
        g = Generator(config)
        # The EMA weights are what the run's sample grids show, so they are what ships.
        g.load_state_dict(state["G_ema"] or state["G"])
        m = state["meta"]
        meta_in = {
            "step": m.get("step"),
            "images_seen": m.get("images_seen"),
            "dataset_name": m.get("dataset_name"),
            "checkpoint": f"{ck.parent.parent.name}/{ck.parent.name}/{ck.name}",
            "trained_seconds": round(float(m.get("elapsed_s", 0.0)), 1),
            "precision": m.get("precision"),
            "real_label": m.get("real_label"),
            "instance_noise": m.get("instance_noise"),
            "diffaugment": m.get("diffaugment") or None,
            "ema_images": m.get("ema_images") or None,
            "loss": m.get("loss"),
            "lr_g": m.get("lr_g"),
            "lr_d": m.get("lr_d"),
            "r1_gamma": m.get("r1_gamma") or None,
            "lecam": m.get("lecam") or None,
        }
    g = g.float().cpu().to(memory_format=torch.contiguous_format)
    if recalibrate:
        recalibrate_batchnorm(g, n_batches=calibration_batches, batch_size=128, seed=calibration_seed, device="cpu")
    g.eval()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in g.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        tensors[k] = v.to(dtype) if v.is_floating_point() else v
    weights_path = out / GENERATOR_WEIGHTS
    _save_tensors(weights_path, tensors, metadata={"format": EXPORT_FORMAT})
    info: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "config": config.to_dict(),
        "storage_dtype": str(dtype).replace("torch.", ""),
        "batchnorm": (
            f"eval mode; running stats recomputed from {calibration_batches}x128 random latents (seed {calibration_seed})"
            if recalibrate
            else "eval mode; running stats as trained"
        ),
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "images_seen": meta_in.get("images_seen"),
        "step": meta_in.get("step"),
        "dataset_name": dataset_name or meta_in.get("dataset_name"),
        "trained_seconds": meta_in.get("trained_seconds"),
        "source_checkpoint": meta_in.get("checkpoint"),
        "training": {k: meta_in[k] for k in ("precision", "real_label", "instance_noise", "diffaugment", "ema_images", "loss", "lr_g", "lr_d", "r1_gamma", "lecam") if meta_in.get(k) is not None},
        "weights_sha256": _sha256(weights_path),
    }
    if metadata:
        info.update(metadata)
    _atomic_write_json(out / GENERATOR_META, info)
    if samples_png:
        from .sample import latents, sample, save_grid

        g_loaded, _ = load_generator(out)
        save_grid(sample(g_loaded, latents(64, config.nz, seed=0)), out / "samples.png", nrow=8)
    return out


def load_generator(path: str | Path, device: str | torch.device | None = None) -> tuple[Generator, DCGANConfig]:
    """Load an exported generator folder (or its ``generator.safetensors``).

    Returns ``(generator in eval mode, DCGANConfig)``. Only safetensors + JSON
    are read; a ``.pt``/``.pth``/pickle file is refused.
    """
    p = Path(path)
    weights = p / GENERATOR_WEIGHTS if p.is_dir() else p
    weights = _require_safetensors(weights)
    meta_path = weights.with_name(GENERATOR_META)
    info = json.loads(meta_path.read_text(encoding="utf-8"))
    if info.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{meta_path}: unknown generator format {info.get('format')!r}")
    config = DCGANConfig.from_dict(info["config"])
    tensors = load_file(str(weights))
    g = Generator(config)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    missing, unexpected = g.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{weights}: weights do not match the config (missing {missing}, unexpected {unexpected})")
    if device is not None:
        g.to(device)
    g.eval()
    for param in g.parameters():
        param.requires_grad_(False)
    return g, config
