from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

PresetName = Literal["quick", "standard", "long"]


class TrainingRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: PresetName = "quick"


class TrainingRunCreated(BaseModel):
    id: uuid.UUID
    status: str


class PresetOut(BaseModel):
    name: PresetName
    total_images: int
    why: str


class TrainingProgressOut(BaseModel):
    """What the admin page draws; every field may be missing until the worker reports it."""

    # queued, loading, training, exporting, upscaling (the theme's upscaler), evaluating, done, stopped
    phase: str | None = None
    step: int | None = None
    total_steps: int | None = None
    images: int | None = None
    total: int | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    loss_d: float | None = None
    loss_g: float | None = None
    d_x: float | None = None
    d_g_z: float | None = None
    device: str | None = None
    precision: str | None = None
    resumed_from_images: int | None = None
    checkpoint_images: int | None = None
    # [images seen, loss_d, loss_g], at most ~200 points over the whole run.
    losses: list[list[float]] = []
    # [images seen, SWD x 1e3] whenever it was measured (lower is better).
    swd: list[list[float]] = []
    sample_images: int | None = None
    # The 64 -> 256 px upscaler, when the run trains one (options.upscaler_steps > 0): its step and L1 loss.
    upscaler_step: int | None = None
    upscaler_steps: int | None = None
    upscaler_loss: float | None = None


class TrainingRunOut(BaseModel):
    id: uuid.UUID
    theme_slug: str
    preset: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    cancel_requested: bool
    attempts: int
    options: dict[str, Any]
    progress: TrainingProgressOut
    sample_url: str | None
    model_version_id: uuid.UUID | None
    model_version: int | None
    metrics: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
