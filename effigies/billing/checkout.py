"""A purchase: money and ownership in one transaction, the response stored with them.

Billing sits above avatars: avatars.service.hand_over makes the avatar the buyer's (offer,
fingerprint claim, registry), this module debits the wallet for it and keeps the answer of an
Idempotency-Key; one commit ends both, so an avatar is never given without its payment, nor
paid without being given."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from effigies.avatars import service as avatars_service
from effigies.avatars.schemas import AvatarRef, PurchaseOut
from effigies.billing import idempotency
from effigies.billing.ledger import BillingError, Posting, post, system_account, wallet
from effigies.config import get_settings
from effigies.db import utcnow

# The wording of the consent the buy button's checkbox shows (frontend strings
# theme.waiver, FR and EN), by the date it last changed: a purchase records which one was given.
WITHDRAWAL_WAIVER_WORDING = "2026-12-03"


@dataclass(frozen=True)
class PurchaseResult:
    """The answer to a purchase request; `replayed` when an Idempotency-Key returned a stored one."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def purchase(
    *, session: Session, user_id: uuid.UUID, candidate_id: uuid.UUID, idempotency_key: str | None = None,
    withdrawal_waiver: bool = False,
) -> PurchaseResult:
    """Buy a candidate, committed. With a key, the response is stored in the same transaction, so
    a retry (even one racing the first) gets it again and is never charged. ``withdrawal_waiver``
    is the buyer's express consent to immediate delivery, without which nothing is sold; it is
    recorded with the ledger transaction of the sale."""
    if not withdrawal_waiver:
        raise BillingError(
            "withdrawal_consent_required",
            "The image is delivered at once, so buying it ends your right of withdrawal: tick the box that "
            "says you agree (withdrawal_waiver: true), then buy again. Nothing was charged.",
            status=422,
        )
    if idempotency_key is not None:
        replay = idempotency.claim(
            session=session, user_id=user_id, key=idempotency_key, request=f"purchase:{candidate_id}"
        )
        if replay is not None:
            session.commit()
            return PurchaseResult(replay.status, replay.body, replayed=True)
    handed = avatars_service.hand_over(session=session, user_id=user_id, candidate_id=candidate_id)
    avatar = handed.avatar
    if handed.charge:
        price = get_settings().price_cents
        post(
            session=session,
            kind="purchase",
            reference=f"purchase:{candidate_id}",
            description=f"Avatar « {handed.theme_name} »",
            postings=[
                Posting(wallet(session=session, user_id=user_id).id, -price),
                Posting(system_account(session=session, kind="revenue").id, price),
            ],
            details={
                "avatar_id": str(avatar.id),
                "withdrawal_waiver": {"wording": WITHDRAWAL_WAIVER_WORDING, "at": utcnow().isoformat()},
            },
        )
    body = PurchaseOut(
        avatar=AvatarRef(public_id=avatar.public_id, url=avatars_service.public_url(avatar.public_id))
    ).model_dump(mode="json")
    if idempotency_key is not None:
        idempotency.record(session=session, user_id=user_id, key=idempotency_key, status=201, body=body)
    session.commit()
    return PurchaseResult(201, body)
