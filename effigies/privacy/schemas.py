"""The person's data export (GET /api/me/export): everything the shop keeps about them, in one file."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from effigies.billing.schemas import LedgerLine, TopUpOut

EXPORT_FORMAT = "effigies-export/1"


class ExportAccount(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool
    display_name: str
    locale: str
    role: str
    created_at: datetime


class ExportSession(BaseModel):
    """A log-in: when it began, was last used and will end (the token itself is never kept)."""

    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


class ExportAvatar(BaseModel):
    public_id: str
    url: str
    theme_slug: str
    theme_name: str
    price_cents: int
    bought_at: datetime


class ExportAddress(BaseModel):
    """An extra address of theirs (for /avatar/{hash}), pending or verified."""

    id: uuid.UUID
    email: str
    verified: bool
    added_at: datetime
    verified_at: datetime | None


class ExportEmailLink(BaseModel):
    """An address of theirs answering with one of their avatars at /avatar/{hash}: the account's
    own (address_id null, above) or an extra one (`addresses`); its MD5 and SHA-256 are what the
    avatar side keeps."""

    address_id: uuid.UUID | None = None
    avatar_public_id: str
    url: str
    linked_at: datetime


class ExportProposal(BaseModel):
    id: uuid.UUID
    theme_slug: str
    created_at: datetime
    expires_at: datetime


class ExportWallet(BaseModel):
    balance_cents: int
    currency: Literal["eur"] = "eur"
    movements: list[LedgerLine]
    topups: list[TopUpOut]


class DataExport(BaseModel):
    format: Literal["effigies-export/1"] = EXPORT_FORMAT
    exported_at: datetime
    account: ExportAccount
    sessions: list[ExportSession]
    wallet: ExportWallet
    avatars: list[ExportAvatar]
    addresses: list[ExportAddress] = []
    avatar_email_links: list[ExportEmailLink] = []
    proposals: list[ExportProposal]
