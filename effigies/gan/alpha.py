"""Transparency: the one composite behind every RGB view of an RGBA image.

numpy only (no torch), so the API process, which must stay light, fingerprints RGBA avatars
with exactly the function the workers and the metrics use.
"""

from __future__ import annotations

import numpy as np

# White: the background today's themes were trained and fingerprinted on, so fingerprints,
# SWD figures and grids of RGBA generators stay comparable with the RGB ones.
COMPOSITE_BACKGROUND = (255, 255, 255)


def composite(images: np.ndarray, background: tuple[int, int, int] = COMPOSITE_BACKGROUND) -> np.ndarray:
    """uint8 ...HWC RGBA (one image or a batch) -> RGB over ``background``, straight alpha,
    rounded to nearest. RGB passes through unchanged."""
    images = np.asarray(images)
    if images.shape[-1] == 3:
        return images
    if images.shape[-1] != 4:
        raise ValueError(f"expected RGB or RGBA images, got {images.shape[-1]} channels")
    alpha = images[..., 3:4].astype(np.float32) / 255.0
    bg = np.asarray(background, dtype=np.float32)
    rgb = images[..., :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
