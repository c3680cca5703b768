"""What support sees of an account: enough to recognise the person, never the password hash."""
from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class UserSummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: str
    created_at: datetime
    deleted_at: datetime | None  # anonymised account: its history stays, nobody can log in to it
    balance_cents: int
    avatar_count: int


class UserSearchOut(BaseModel):
    items: list[UserSummaryOut]
    limit: int
    offset: int
    has_more: bool
