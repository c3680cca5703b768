"""DCGAN (Radford et al., 2015) in plain PyTorch: model, data, training, export, sampling.

Self-contained: imports nothing else from ``effigies`` (only torch, numpy,
PIL and safetensors), so workers and scripts can use it on its own. The names
below are loaded on first use, so ``effigies.gan.alpha`` (numpy only) can be
imported by the API without loading torch.
"""

from importlib import import_module

_EXPORTS = {
    "DCGANConfig": "config",
    "TrainOptions": "config",
    "Generator": "model",
    "Discriminator": "model",
    "weights_init": "model",
    "build_models": "model",
    "recalibrate_batchnorm": "model",
    "load_image_folder": "data",
    "train": "train",
    "export_generator": "checkpoint",
    "load_generator": "checkpoint",
    "latest_checkpoint": "checkpoint",
    "latents": "sample",
    "sample": "sample",
    "make_grid": "sample",
    "save_grid": "sample",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
