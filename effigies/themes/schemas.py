from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ThemeMetricsOut(BaseModel):
    """The current generator's quality as measured by `effigies eval` (see effigies/training/evaluate.py)."""

    swd: float | None = None  # sliced Wasserstein distance x 1e3 to the training images; lower is better
    originality: float | None = None  # share of samples that are near-copies of a training image; lower is better
    diversity: float | None = None  # share of samples with no other sample within the radius; goal >= 0.95
    diversity_training: float | None = None  # the same share among real training images (the fingerprint's ceiling)
    samples: int
    radius: int
    evaluated_at: datetime


class ThemeOut(BaseModel):
    slug: str
    name: str
    name_fr: str
    description: str
    description_fr: str
    attribution: str
    status: str
    pixel_art: bool
    sample_url: str
    metrics: ThemeMetricsOut | None = None
