from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GenerationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(4, ge=1, le=8)


class GenerationCreated(BaseModel):
    id: uuid.UUID


class CandidateOut(BaseModel):
    id: uuid.UUID
    preview_url: str
    expires_at: datetime
    status: str


class ProposalOut(CandidateOut):
    theme_slug: str
    created_at: datetime


class ProposalsOut(BaseModel):
    """Newest first; at most generation.service.PROPOSALS_SHOWN."""

    proposals: list[ProposalOut]


class GenerationOut(BaseModel):
    id: uuid.UUID
    theme_slug: str
    status: Literal["queued", "running", "done", "failed"]
    error: str | None
    candidates: list[CandidateOut]


class BoardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: Literal[16, 64] = 16


class BoardOut(BaseModel):
    id: str
    status: Literal["pending", "done"]
    png_url: str | None = None
    pdf_url: str | None = None


class ShowcaseTheme(BaseModel):
    slug: str
    name: str
    name_fr: str
    pixel_art: bool
    images: list[str]  # 256 px WebP URLs, with alpha where the theme has it; empty until first drawn


class ShowcaseOut(BaseModel):
    themes: list[ShowcaseTheme]
