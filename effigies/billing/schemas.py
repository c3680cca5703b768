from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SetupIntentOut(BaseModel):
    client_secret: str


class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: int = Field(gt=0, le=100_000)
    payment_method_id: str = Field(min_length=3, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$")


class TopUpOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    amount_cents: int
    currency: str
    failure_message: str | None
    failure_code: str | None = None  # Stripe's decline code, for a translated message
    created_at: datetime


class AvatarBought(BaseModel):
    public_id: str
    url: str
    theme_slug: str
    theme_name: str
    theme_name_fr: str


class LedgerLine(BaseModel):
    """One movement of the wallet. The frontend writes the sentence in the reader's language from
    `kind` and the fields that go with it; `description` is the ledger's own (English) wording."""

    id: int
    created_at: datetime
    amount_cents: int
    kind: str  # topup, purchase, adjustment (positive: goodwill; negative: correction)
    description: str
    avatar: AvatarBought | None = None  # purchase
    topup_id: uuid.UUID | None = None  # topup
    reason: str | None = None  # adjustment


class WalletOut(BaseModel):
    balance_cents: int
    currency: str = "eur"
    entries: list[LedgerLine]
    topups: list[TopUpOut]


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: int = Field(ge=-100_000, le=100_000)
    reason: str = Field(min_length=3, max_length=500)


class AdjustmentOut(BaseModel):
    transaction_id: uuid.UUID
    balance_cents: int
