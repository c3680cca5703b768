from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from effigies import text
from effigies.themes.pixel_grid import GRIDS, grid_problem


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
    sold_count: int = 0


# The admin side (effigies.themes.admin_router).

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$"


class ThemeCreateIn(BaseModel):
    slug: str = Field(pattern=SLUG_PATTERN, description="3-64 lowercase letters, digits and hyphens: the theme's URL")
    # Shown to every visitor of the catalogue: readable characters only (effigies.text).
    name: text.Line = Field(min_length=1, max_length=120)
    name_fr: text.Line = Field("", max_length=120)
    description: text.Lines = Field("", max_length=2000)
    description_fr: text.Lines = Field("", max_length=2000)
    # Required: whoever made the example images must be credited, and their licence must allow it.
    attribution: text.Lines = Field(min_length=3, max_length=2000)
    pixel_art: bool = False
    pixel_grid: int | None = Field(
        None, json_schema_extra={"enum": [*GRIDS, None]},
        description="pixel art drawn on N x N cells (8, 16 or 32): every example must be exactly on it, and the "
        "generator draws that grid; empty for none. Implies pixel_art.",
    )

    @field_validator("pixel_grid", mode="before")
    @classmethod
    def _grid(cls, value):
        # A form sends text: "" is no grid; anything else must be a whole number the grid check accepts,
        # refused in one message that names the allowed values (pydantic's own would not).
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            try:
                value = int(value.strip(), 10)
            except ValueError:
                pass
        problem = grid_problem(value)
        if problem:
            raise PydanticCustomError("pixel_grid", problem)
        return value

    @model_validator(mode="after")
    def _grid_is_pixel_art(self):
        if self.pixel_grid is not None:
            self.pixel_art = True  # cells are enlarged without smoothing wherever the theme is shown
        return self


class UploadProblemOut(BaseModel):
    name: str
    reason: str
    message: str
    related: str = ""


class BuiltDatasetOut(BaseModel):
    """A folder made by `effigies dataset build`, as the "New theme" form offers it."""

    name: str
    images: int = Field(description="files named like an image (not decoded: creating a theme checks them)")
    bytes: int
    capped: bool = Field(description="counting stopped at the upload's entry cap: a theme from it would be refused")
    used_by: list[str] = Field(description="slugs of the themes made from it, or whose own training set it is")


class BuiltDatasetsOut(BaseModel):
    folder: str  # EE_BUILT_DATASETS_DIR, resolved: where `effigies dataset build` must write
    datasets: list[BuiltDatasetOut]


class ModelVersionOut(BaseModel):
    id: uuid.UUID
    version: int
    created_at: datetime
    ready: bool  # its generator file is there: it can be published
    capacity: float | None = None
    capacity_is_lower_bound: bool = False  # no refusal was seen while measuring: at least this many


class AdminThemeOut(BaseModel):
    slug: str
    name: str
    name_fr: str
    status: str
    pixel_art: bool
    pixel_grid: int | None = None  # cells per side, when declared (trained on that grid)
    created_at: datetime
    model_version: ModelVersionOut | None
    versions: list[ModelVersionOut]
    training_images: int | None
    sales: int
    revenue_cents: int
    rejected_near_duplicates: int
    capacity: float | None  # sales before half of fresh samples are refused, when measured
    capacity_is_lower_bound: bool = False
    sample_url: str | None


class ThemeCreatedOut(BaseModel):
    theme: AdminThemeOut
    images: int
    # Most images have transparency: the set was stored as RGBA and the generator will draw alpha.
    transparent: bool = False
    # Kept at 256 px too (at least 256 px on their short side, not pixel art): with enough of them
    # a training run also trains the theme's 64 -> 256 px upscaler (effigies.training.upscaling).
    large_images: int = 0
    skipped: list[UploadProblemOut]


class PublishIn(BaseModel):
    model_version_id: uuid.UUID


class ThemeOrderIn(BaseModel):
    """PUT /api/admin/themes/order: every theme's slug once, in the order the catalogue is to list them."""

    model_config = ConfigDict(extra="forbid")

    # Only compared with the themes' own slugs, never sent to the database; bounded for the messages.
    # Repeats are refused by name (duplicate_theme), as unknown and missing slugs are.
    slugs: list[Annotated[str, Field(max_length=64)]] = Field(
        max_length=1000, json_schema_extra={"uniqueItems": True},
        description="every theme's slug, whatever its status, exactly once, in the catalogue's new order",
    )


class RetiredOut(BaseModel):
    theme: AdminThemeOut
    expired_candidates: int


class LearningFrame(BaseModel):
    step: int
    images: int
    url: str


class LearningOut(BaseModel):
    """Sample grids of the same latents along training, and the smoothed [images, loss_d, loss_g]."""

    frames: list[LearningFrame]
    losses: list[tuple[int, float, float]]
    # A shorter re-run of the generator's recipe, not the run that made the generator itself.
    replay: bool = False
