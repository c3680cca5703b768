"""Two image-quality measures beside SWD that need no downloaded weights: C2ST and density/coverage.

Classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017)
--------------------------------------------------------
A small CNN is trained from scratch to tell real training images from fresh
samples, on one half of each set; its accuracy on the other, held-out half is
the measure. 0.5 means it found nothing that tells them apart, 1.0 means every
sample is recognisably fake. Accuracy saturates: a generator whose samples are
all told apart scores 1.0 however obvious the tell, so the held-out
cross-entropy (bits per image: 1.0 = chance, near 0 = told apart with
confidence) is reported too; it keeps ranking generators that all score 1.0.
The budget (architecture, steps, batch, learning rate) is fixed, so accuracies
of different generators evaluated with the same number of images are
comparable; with 1,024 held-out images per class the accuracy's own standard
error is about 0.011. The classifier starts from torch's default initialisation
under ``torch.manual_seed(seed)``: reproducible for a torch version and thread
count. A generator that copies its
training images would also score 0.5: read it next to originality.

Density and coverage (Naeem et al., ICML 2020)
----------------------------------------------
k-NN manifolds (k = 5) of the real embeddings: each real point's ball reaches
its k-th nearest real neighbour. *Density* counts, per fake point, the real
balls containing it, divided by k, averaged over fakes (about 1 when fakes are
distributed like reals; above 1 when they crowd into dense real regions;
towards 0 when they fall off the real manifold: fidelity). *Coverage* is the
share of real points whose ball contains at least one fake (diversity: a
collapsed generator covers few). Same definitions and strict ``<`` as the
authors' ``prdc`` package, implemented here with :func:`torch.cdist`: ``prdc``
pulls in scikit-learn, SciPy and joblib for one pairwise-distance call, which it
runs with ``n_jobs=8``.

Feature space: a fixed, randomly initialised CNN
------------------------------------------------
Density and coverage need an embedding. Inception/VGG weights cannot be
downloaded here, and ImageNet features are in any case a poor judge of flat
avatar art. Naeem et al. (§5, "random embeddings") recommend a *randomly
initialised* CNN for data unlike ImageNet, and Lee et al. (AAAI 2023,
"Demystifying randomly initialized networks for evaluating generative models")
found such features rank generators much like trained ones. A random network
also has no training of its own to go wrong and no opinion learned from one
generator, so it measures every generator the same way; an encoder trained on
the theme's images would be a second model to train, store and version per
theme. Its weights are drawn from numpy's seeded PCG64 (stable across numpy and
torch versions, unlike ``torch.manual_seed``'s stream), Kaiming-scaled so each
layer's activations keep their variance and no layer dominates the distances.
Features: the 2 x 2 average of the last stage (layout: where things are) and
the global average of every stage (what colours/textures/parts there are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NEAREST_K = 5
# C2ST budget, in steps rather than epochs so that the classifier's power (and its time) does
# not depend on how many images a theme has. 128 x 64 = 4 epochs of 2 x 1,024 training images.
# Changing any of these makes accuracies incomparable with earlier ones.
C2ST_STEPS = 128
C2ST_BATCH = 64
C2ST_LR = 1e-3
# Random-feature network: channels per stage (each stage: 3x3 conv + ReLU, then 2x2 average).
FEATURE_CHANNELS = (16, 32, 64, 128)


def to_rgb_float(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 RGB images, NHWC or NCHW -> float32 NCHW in [-1, 1].

    RGBA is refused, not silently dropped: composite it first
    (:func:`effigies.gan.alpha.composite`), so every measure sees one view of it.
    """
    x = torch.as_tensor(images)
    if x.dim() != 4:
        raise ValueError(f"expected a batch of images (4-D), got shape {tuple(x.shape)}")
    if x.shape[1] not in (3, 4) and x.shape[-1] in (3, 4):
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] == 4:
        raise ValueError("RGBA images: composite them onto white first (effigies.gan.alpha.composite)")
    if x.shape[1] != 3:
        raise ValueError(f"expected RGB images, got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {x.dtype}")
    return x.float().div(127.5).sub(1.0).contiguous()


def _subset(x: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    if x.shape[0] <= n:
        return x
    return x[torch.from_numpy(np.sort(rng.choice(x.shape[0], size=n, replace=False)))]


# --------------------------------------------------------------------------- C2ST
class C2STNet(nn.Module):
    """Real-vs-fake classifier: strided convs + LeakyReLU, global average, one logit.

    No BatchNorm: with batch statistics a prediction would depend on which other
    images share its batch, and held-out accuracy would not be a property of the image.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2),  # w x 32 x 32
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),  # 2w x 16 x 16
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2),  # 4w x 8 x 8
            nn.Conv2d(4 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2),  # 4w x 4 x 4
        )
        self.head = nn.Linear(4 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(1)


@dataclass(frozen=True)
class C2STResult:
    accuracy: float  # held-out accuracy, both classes equally many
    loss_bits: float  # held-out cross-entropy per image, in bits (1.0 = chance)
    train_images: int  # per class
    test_images: int  # per class
    steps: int


def c2st(
    real: torch.Tensor | np.ndarray,
    fake: torch.Tensor | np.ndarray,
    *,
    max_images: int = 2048,
    seed: int = 0,
    steps: int | None = None,
    batch_size: int = C2ST_BATCH,
    lr: float = C2ST_LR,
) -> C2STResult:
    """Classifier two-sample test accuracy (0.5 = indistinguishable, 1.0 = always told apart).

    Uses ``min(len(real), len(fake), max_images)`` images of each set (a seeded random
    subset of the larger), half of each to train, the other half to test, ``steps``
    Adam steps (default :data:`C2ST_STEPS`, read at call time). Deterministic for a
    ``seed`` at a given thread count (the global torch RNG is left untouched).
    """
    steps = C2ST_STEPS if steps is None else int(steps)
    rng = np.random.default_rng(seed)
    a, b = to_rgb_float(real), to_rgb_float(fake)
    n = min(a.shape[0], b.shape[0], int(max_images))
    if n < 2:
        raise ValueError("C2ST needs at least 2 images per set")
    # Shuffled before halving: inputs may come in file-name order (one icon set after another).
    a = _subset(a, n, rng)[torch.from_numpy(rng.permutation(n))]
    b = _subset(b, n, rng)[torch.from_numpy(rng.permutation(n))]
    half = n // 2
    x_train = torch.cat([a[:half], b[:half]])
    y_train = torch.cat([torch.ones(half), torch.zeros(half)])
    x_test = torch.cat([a[half:], b[half:]])
    y_test = torch.cat([torch.ones(n - half), torch.zeros(n - half)])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = C2STNet()
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    batch_size = min(batch_size, len(x_train))  # a tiny set: no image twice in one batch
    net.train()
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        # Epoch-style shuffles (every image once per pass), cut into batches across pass ends.
        while len(order) < batch_size:
            order = torch.cat([order, torch.randperm(len(x_train), generator=gen)])
        idx, order = order[:batch_size], order[batch_size:]
        loss = F.binary_cross_entropy_with_logits(net(x_train[idx]), y_train[idx])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    net.eval()
    with torch.inference_mode():
        logits = torch.cat([net(x_test[i : i + 256]) for i in range(0, len(x_test), 256)])
    accuracy = float(((logits > 0).float() == y_test).float().mean())
    loss_bits = float(F.binary_cross_entropy_with_logits(logits, y_test)) / math.log(2)
    return C2STResult(accuracy=accuracy, loss_bits=loss_bits, train_images=half, test_images=n - half, steps=steps)


# --------------------------------------------------------------------------- random features
class RandomFeatures(nn.Module):
    """A fixed random VGG-style embedding of 64x64 RGB images (see the module docstring)."""

    def __init__(self, seed: int = 0, channels: tuple[int, ...] = FEATURE_CHANNELS):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.convs = nn.ModuleList()
        c_in = 3
        for c_out in channels:
            conv = nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect")
            fan_in = c_in * 9
            weight = (rng.standard_normal(conv.weight.shape) * (2.0 / fan_in) ** 0.5).astype(np.float32)
            conv.weight.data = torch.from_numpy(weight)
            conv.bias.data.zero_()
            conv.requires_grad_(False)
            self.convs.append(conv)
            c_in = c_out
        self.eval()

    @property
    def dim(self) -> int:
        return sum(c.out_channels for c in self.convs) + 4 * self.convs[-1].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = []
        for conv in self.convs:
            x = F.avg_pool2d(F.relu(conv(x)), 2)
            pooled.append(x.mean(dim=(2, 3)))
        layout = F.adaptive_avg_pool2d(x, 2).flatten(1)
        return torch.cat([*pooled, layout], dim=1)


def embed(images: torch.Tensor | np.ndarray, *, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
    """(N, D) float32 random-CNN features of uint8 RGB images (NHWC or NCHW)."""
    x = to_rgb_float(images)
    net = RandomFeatures(seed=seed)
    with torch.inference_mode():
        chunks = [net(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    return torch.cat(chunks) if chunks else torch.empty(0, net.dim)


# --------------------------------------------------------------------------- density & coverage
@dataclass(frozen=True)
class DensityCoverage:
    density: float
    coverage: float
    real_images: int
    fake_images: int
    k: int


def _kth_neighbour_radii(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance of each point to its k-th nearest *other* point (prdc: k + 1 with itself at 0)."""
    radii = []
    for start in range(0, x.shape[0], chunk):
        d = torch.cdist(x[start : start + chunk], x)
        radii.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def density_coverage_of_features(real: torch.Tensor, fake: torch.Tensor, *, k: int = NEAREST_K) -> DensityCoverage:
    """Density and coverage (Naeem et al. 2020) of two (N, D) feature sets."""
    real, fake = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    if real.shape[0] <= k or fake.shape[0] < 1:
        raise ValueError(f"density/coverage need more than k={k} real points and at least one fake")
    radii = _kth_neighbour_radii(real, k)
    inside = torch.cdist(real, fake) < radii[:, None]  # (real, fake): fake j inside real i's ball
    density = float(inside.sum(dim=0).double().mean() / k)
    coverage = float(inside.any(dim=1).double().mean())
    return DensityCoverage(density=density, coverage=coverage, real_images=int(real.shape[0]),
                           fake_images=int(fake.shape[0]), k=k)


def density_coverage(
    real: torch.Tensor | np.ndarray,
    fake: torch.Tensor | np.ndarray,
    *,
    max_images: int = 4096,
    k: int = NEAREST_K,
    seed: int = 0,
) -> DensityCoverage:
    """Density and coverage of uint8 RGB image sets in the random-CNN feature space.

    Each set is cut to ``max_images`` (seeded random subset); equal sizes keep
    density's expected value at 1 for matching sets. ``seed`` also picks the
    feature network: compare figures measured with the same seed only.
    """
    rng = np.random.default_rng(seed)
    a, b = torch.as_tensor(np.asarray(real)), torch.as_tensor(np.asarray(fake))
    n = min(a.shape[0], b.shape[0], int(max_images))
    a, b = _subset(a, n, rng), _subset(b, n, rng)
    return density_coverage_of_features(embed(a, seed=seed), embed(b, seed=seed), k=k)
