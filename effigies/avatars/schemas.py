from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AvatarRef(BaseModel):
    public_id: str
    url: str


class PurchaseOut(BaseModel):
    avatar: AvatarRef


class AvatarOut(BaseModel):
    public_id: str
    url: str
    theme_slug: str
    theme_name: str
    created_at: datetime
