from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from effigies import text


class SetupIntentOut(BaseModel):
    client_secret: str


class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict, as adjustments are: a client sending "100" or 100.0 has a bug, not a top-up.
    amount_cents: int = Field(strict=True, gt=0, le=100_000)
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
    # purchase: the buyer's consent to immediate delivery (which ends the right of withdrawal),
    # {"wording": the consent text's version, "at": when it was given}
    withdrawal_waiver: dict[str, str] | None = None
    topup_id: uuid.UUID | None = None  # topup
    reason: str | None = None  # adjustment


class WalletOut(BaseModel):
    balance_cents: int
    currency: str = "eur"
    entries: list[LedgerLine]
    topups: list[TopUpOut]


# A goodwill gesture is small; anything larger is a refund or a bug, not a support click.
GOODWILL_LIMIT_CENTS = 10_000


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: money is never guessed from "2.5", "200" or true.
    amount_cents: int = Field(strict=True, ge=-GOODWILL_LIMIT_CENTS, le=GOODWILL_LIMIT_CENTS)
    # Shown to the person in their wallet history, so: one line of readable text (effigies.text:
    # NFC, trimmed, no control or text-direction characters), of a readable length.
    reason: text.Line = Field(max_length=2_000)

    @field_validator("amount_cents")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("an adjustment must not be zero")
        return value

    @field_validator("reason")
    @classmethod
    def _readable_length(cls, value: str) -> str:
        if not 3 <= len(value) <= 500:
            raise ValueError("the reason must be 3 to 500 characters long")
        return value


class AdjustmentOut(BaseModel):
    transaction_id: uuid.UUID
    balance_cents: int
