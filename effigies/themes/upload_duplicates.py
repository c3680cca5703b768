"""Near-identical images of one upload (the same picture re-encoded or resized): the first of
each group, in name order, is kept. The thresholds are effigies.themes.uploads.Limits'."""
from __future__ import annotations

import numpy as np

from effigies.uniqueness.fingerprint import distances


def copies(prints: list[bytes], thumbs: list[np.ndarray], *, radius: int, thumb_diff: float) -> list[int | None]:
    """For each image (its fingerprint and 16x16 thumbnail, effigies.themes.upload_images.thumb):
    None when it is kept, else the index of the earlier kept image it nearly copies."""
    n = len(prints)
    if not n:
        return []
    packed = np.frombuffer(b"".join(prints), dtype=np.uint8).reshape(n, -1)
    # The kept ones packed at the front of preallocated arrays: each comparison reads a slice,
    # not a fresh copy (10,000 images: ~50 M pairs, 4.4 s on the shared 2-core machine).
    kept_prints, kept_thumbs = np.empty_like(packed), np.empty((n, thumbs[0].size), dtype=np.int16)
    kept: list[int] = []
    out: list[int | None] = []
    for i in range(n):
        k = len(kept)
        duplicate_of = None
        if k:
            near = np.flatnonzero(distances(packed[i], kept_prints[:k])[0] <= radius)
            if near.size:
                diffs = np.abs(kept_thumbs[near] - thumbs[i]).mean(axis=1)
                closest = int(np.argmin(diffs))
                if diffs[closest] <= thumb_diff:
                    duplicate_of = kept[near[closest]]
        if duplicate_of is None:
            kept_prints[k], kept_thumbs[k] = packed[i], thumbs[i]
            kept.append(i)
        out.append(duplicate_of)
    return out
