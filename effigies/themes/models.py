from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from effigies.db import Base

THEME_STATUSES = ("draft", "training", "ready", "published", "retired")
# A grid is pixel art; the values are effigies.themes.pixel_grid.GRIDS (migration 0011 spells them too).
PIXEL_GRID_CHECK = "pixel_grid IS NULL OR (pixel_art AND pixel_grid IN (8, 16, 32))"
# A theme inserted without a position goes after every existing one (evaluated inside the INSERT).
AFTER_THE_OTHERS = text("(SELECT COALESCE(MAX(position), 0) + 1 FROM themes)")


class Theme(Base):
    __tablename__ = "themes"
    __table_args__ = (
        CheckConstraint(f"status IN {THEME_STATUSES}", name="status"),
        CheckConstraint(PIXEL_GRID_CHECK, name="pixel_grid"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    name_fr: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    description_fr: Mapped[str] = mapped_column(Text, default="")
    attribution: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # Pixel-art themes scale with nearest neighbour; the others smoothly.
    pixel_art: Mapped[bool] = mapped_column(default=False)
    # Pixel art drawn on pixel_grid x pixel_grid cells (effigies.themes.pixel_grid): its generator
    # draws that grid, one pixel per cell, with a palette learned from the set. None: no grid.
    pixel_grid: Mapped[int | None]
    # Where the catalogue lists it: 1 first, ties by name. An admin sets the order
    # (effigies.themes.admin.set_order); the shipped themes start in BUILTIN_THEMES's order.
    position: Mapped[int] = mapped_column(default=AFTER_THE_OTHERS)
    current_model_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("model_versions.id", use_alter=True, ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ModelVersion(Base):
    """One trained generator of a theme; its weights are a safetensors file plus a JSON config."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("theme_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    theme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("themes.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    # A folder holding generator.safetensors + generator.json; relative paths are inside the package.
    weights_dir: Mapped[str] = mapped_column(String(500))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
