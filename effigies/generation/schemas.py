from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError


class GenerationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: a quantity sent as "4" or 4.0 is a client's bug, refused rather than guessed.
    count: int = Field(4, strict=True, ge=1, le=8)


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

    @field_validator("count", mode="before")
    @classmethod
    def _whole_number(cls, value):
        # A Literal takes 16.0 for 16 (and True for 1): strict like GenerationIn.count.
        if type(value) is not int:
            raise PydanticCustomError("int_type", "Input should be a valid integer")
        return value


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
