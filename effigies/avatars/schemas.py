from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class AvatarRef(BaseModel):
    public_id: str
    url: str


class PurchaseIn(BaseModel):
    """The buyer's express consent, given with each purchase: the image is delivered at once, so
    the right of withdrawal ends with it (Directive 2011/83/EU art. 16(m)); the shop records it."""

    model_config = ConfigDict(extra="forbid")

    withdrawal_waiver: bool = False


class PurchaseOut(BaseModel):
    avatar: AvatarRef


class AvatarOut(BaseModel):
    public_id: str
    url: str
    theme_slug: str
    theme_name: str
    created_at: datetime


class EmailLinkIn(BaseModel):
    """Which of the caller's avatars one of their verified e-mail addresses answers with at
    /avatar/{hash}: the account's own (no address_id) or an extra one (GET /api/me/addresses)."""

    model_config = ConfigDict(extra="forbid")

    avatar_public_id: str = Field(pattern=r"^[A-Za-z0-9_-]{16}$")
    address_id: uuid.UUID | None = None


class EmailLinkOut(BaseModel):
    """A linked address, by its id (null: the account's own), never the address itself: what it
    shows, and its /avatar/ URL (SHA-256)."""

    address_id: uuid.UUID | None = None
    avatar_public_id: str
    url: str
    created_at: datetime
