"""What support sees of an account: enough to recognise the person, never the password hash."""
from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from effigies.billing.schemas import LedgerLine, TopUpOut


class SupportAddressOut(BaseModel):
    """An address of the account's that may show an avatar at /avatar/{hash} (admins only)."""

    email: str
    extra: bool  # an extra address (effigies.accounts.addresses), not the account's own
    verified: bool
    linked: bool  # shows one of the person's avatars now


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
    # The account's own address when linked, and every extra one, pending or not.
    addresses: list[SupportAddressOut] = []


class UserSearchOut(BaseModel):
    items: list[UserSummaryOut]
    limit: int
    offset: int
    has_more: bool


class SupportLedgerLine(LedgerLine):
    """A wallet line as its owner sees it, plus who made an adjustment (admins only)."""

    admin_id: uuid.UUID | None = None
    admin_email: str | None = None


class SupportWalletOut(BaseModel):
    user: UserSummaryOut
    balance_cents: int
    currency: str = "eur"
    entries: list[SupportLedgerLine]
    topups: list[TopUpOut]  # every state: a failed one credited nothing, and says why
