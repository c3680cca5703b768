"""DCGAN (Radford et al., 2015) in plain PyTorch: model, data, training, export, sampling.

Self-contained: imports nothing else from ``effigies`` (only torch, numpy,
PIL and safetensors), so workers and scripts can use it on its own.
"""

from .checkpoint import export_generator, latest_checkpoint, load_generator
from .config import DCGANConfig, TrainOptions
from .data import load_image_folder
from .model import Discriminator, Generator, build_models, recalibrate_batchnorm, weights_init
from .sample import latents, make_grid, sample, save_grid
from .train import train

__all__ = [
    "DCGANConfig",
    "TrainOptions",
    "Generator",
    "Discriminator",
    "weights_init",
    "build_models",
    "recalibrate_batchnorm",
    "load_image_folder",
    "train",
    "export_generator",
    "load_generator",
    "latest_checkpoint",
    "latents",
    "sample",
    "make_grid",
    "save_grid",
]
