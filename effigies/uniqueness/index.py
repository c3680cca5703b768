"""Multi-index hashing: exact radius search over 256-bit fingerprints with ordinary B-tree indexes.

The 256 bits are dealt into BANDS bands (bit i goes to band i % BANDS, so the low-frequency
DCT bits, which vary least within a theme, are spread over every band); each band's value is
an indexed integer column. Refined pigeonhole (Norouzi et al., "Fast Search in Hamming Space
with Multi-Index Hashing", 2012): write R = BANDS * r + a with 0 <= a < BANDS. If two
fingerprints differ in at most R bits, then one of the first a + 1 bands differs in at most r
bits, or one of the others in at most r - 1 (else the total would be at least
(a + 1)(r + 1) + (BANDS - a - 1) r = R + 1). So a lookup probes, per band, every value within
that band's radius of the query's value; rows matching any probe are candidates, rechecked
with the full distance. No row within R is missed, whatever the data (tests/uniqueness).

Claims take transaction-scoped advisory locks derived from R + 1 *lock bands*: two
fingerprints within R differ in at most R bits, so at least one of R + 1 disjoint lock bands
is identical in both and they ask for the same lock; taken in sorted order, no deadlock.

Pure Python: the service, the benchmark and the tests share it.
"""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations

from effigies.uniqueness.fingerprint import BITS

_LOCK_NAMESPACE = 1 << 60  # keeps our advisory locks apart from any other user's
_LOCK_FOLD = (1 << 48) - 59  # a prime below 2**48

# 10 bands of 25-26 bits: measured against 8 and 12 in docs/scaling.md (probes vs candidates).
BANDS = 10


def _split(value: bytes, parts: int) -> list[int]:
    """Deal the bits (most significant first) round-robin into `parts` integers."""
    number = int.from_bytes(value, "big")
    out = [0] * parts
    for i in range(BITS):
        bit = (number >> (BITS - 1 - i)) & 1
        out[i % parts] = (out[i % parts] << 1) | bit
    return out


def band_width(band: int, parts: int = BANDS) -> int:
    return BITS // parts + (1 if band < BITS % parts else 0)


def band_values(value: bytes) -> list[int]:
    """The BANDS integers stored beside a fingerprint (each below 2**26, so an int4 column)."""
    return _split(value, BANDS)


def band_radii(radius: int) -> list[int]:
    """Per band, how far from the query's value to probe (-1: not probed)."""
    r, a = divmod(radius, BANDS)
    return [r if band <= a else r - 1 for band in range(BANDS)]


@lru_cache(maxsize=64)
def _flip_masks(width: int, radius: int) -> tuple[int, ...]:
    masks = [0]
    for k in range(1, radius + 1):
        for bits in combinations(range(width), k):
            mask = 0
            for b in bits:
                mask |= 1 << b
            masks.append(mask)
    return tuple(masks)


def probes(value: bytes, radius: int) -> list[list[int]]:
    """Per band, the values a stored fingerprint within `radius` may have in that band."""
    out = []
    for band, (v, r) in enumerate(zip(band_values(value), band_radii(radius))):
        out.append([] if r < 0 else [v ^ m for m in _flip_masks(band_width(band), r)])
    return out


def probe_count(radius: int) -> int:
    return sum(len(_flip_masks(band_width(b), r)) for b, r in enumerate(band_radii(radius)) if r >= 0)


def lock_keys(value: bytes, radius: int) -> list[int]:
    """Sorted advisory-lock keys (int8) shared by any two fingerprints within `radius`."""
    parts = radius + 1
    # Lock bands wider than 48 bits (R < 5) are folded: a collision only makes two claims wait.
    return sorted({_LOCK_NAMESPACE | (i << 48) | (v % _LOCK_FOLD) for i, v in enumerate(_split(value, parts))})
