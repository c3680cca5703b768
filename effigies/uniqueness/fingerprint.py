"""The registry's fingerprint: a 256-bit DCT perceptual hash of the image's brightness (HSV value).

Why these choices (numbers from scripts/bench_fingerprint.py, benchmarks/fingerprint.json):
- 256 bits, not 64: with 64 bits, distinct real training images of a theme already lie within
  4 bits of each other 12-88% of the time, so a 64-bit registry would refuse most fresh
  samples long before a theme sold a million avatars.
- HSV value (max of R, G, B) instead of luma: a recolour (hue rotated) of a sold avatar is a
  knock-off and must be refused. Luma changes under a hue rotation (a 256-bit luma hash moved
  a median 10-22 bits); max(R, G, B) does not change at all under a rotation of the hue or a
  swap of the colour channels, so a recolour lands on the same fingerprint.
- Transparent images (RGBA themes) are fingerprinted on one fixed white composite, the
  background the earlier themes were trained and fingerprinted on: a new transparent droid that
  copies an old sold one drawn on white lands on the old fingerprint and is refused, and every
  fingerprint already in the registry or in a training_fingerprints file stays comparable
  without a migration. Not PIL's convert("RGB"): it drops alpha and reveals whatever colour a
  file stores under alpha 0, which is arbitrary (so two copies of one avatar could differ).
  The composite is effigies.gan.alpha.composite (numpy only: the API never loads torch).

Pure Pillow + numpy + imagehash: the API, the worker and the scripts share it.
"""
from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from effigies.gan.alpha import COMPOSITE_BACKGROUND, composite

BITS = 256
BYTES = BITS // 8
_HASH_SIZE = 16  # imagehash: hash_size x hash_size bits

# Popcount of every byte, for numpy distance matrices.
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)




def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)


def on_background(image: Image.Image, background: tuple[int, int, int] = COMPOSITE_BACKGROUND) -> Image.Image:
    """The image as RGB: a transparent one composited over ``background`` with straight alpha,
    rounded to nearest (effigies.gan.alpha.composite); an opaque one converted."""
    if not has_alpha(image):
        return image.convert("RGB")
    return Image.fromarray(composite(np.asarray(image.convert("RGBA")), background), mode="RGB")


def brightness(image: Image.Image) -> Image.Image:
    """The HSV value channel of the white composite: max(R, G, B) per pixel, as a greyscale image."""
    rgb = np.asarray(on_background(image))
    return Image.fromarray(rgb.max(axis=2), mode="L")


def fingerprint(image: Image.Image) -> bytes:
    """32 bytes, most significant bit first (the order PostgreSQL's bit(256) prints); any mode,
    transparency composited on white."""
    bits = imagehash.phash(brightness(image), hash_size=_HASH_SIZE).hash.reshape(-1)
    return np.packbits(bits).tobytes()


def fingerprints(images) -> np.ndarray:
    """(n, 32) uint8: one packed fingerprint per image."""
    return np.frombuffer(b"".join(fingerprint(im) for im in images), dtype=np.uint8).reshape(-1, BYTES)


def hamming(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def distances(queries: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """(q, n) Hamming distances between packed (q, k) and (n, k) uint8 fingerprints (k = 32 for
    ours; any width, so the benchmarks compare other hashes with the same code)."""
    queries, stored = np.atleast_2d(queries), np.atleast_2d(stored)
    if hasattr(np, "bitwise_count") and queries.shape[1] % 8 == 0:
        # numpy >= 2: XOR and popcount 64 bits at a time, 8x fewer elements than bytes.
        q = np.ascontiguousarray(queries).view(np.uint64)
        n = np.ascontiguousarray(stored).view(np.uint64)
        return np.bitwise_count(q[:, None, :] ^ n[None, :, :]).sum(-1, dtype=np.int32)
    return _POPCOUNT[queries[:, None, :] ^ stored[None, :, :]].sum(-1, dtype=np.int32)


def to_bitstring(value: bytes) -> str:
    """'0101...' for PostgreSQL's bit(256)."""
    return format(int.from_bytes(value, "big"), f"0{len(value) * 8}b")


def from_bitstring(text: str) -> bytes:
    return int(text, 2).to_bytes(len(text) // 8, "big")
