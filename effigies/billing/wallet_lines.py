"""The wallet's history as structured lines: what each movement was about, not a sentence."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from effigies.avatars import service as avatars_service
from effigies.billing.models import LedgerEntry, LedgerTransaction
from effigies.billing.schemas import AvatarBought, LedgerLine


def wallet_lines(*, session: Session, account_id: uuid.UUID, limit: int) -> list[LedgerLine]:
    rows = session.execute(
        select(LedgerEntry.id, LedgerEntry.created_at, LedgerEntry.amount_cents, LedgerTransaction.kind,
               LedgerTransaction.description, LedgerTransaction.details)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.account_id == account_id)
        .order_by(LedgerEntry.id.desc())
        .limit(limit)
    ).all()
    avatars = _avatars(session=session, ids=[_uuid(r.details.get("avatar_id")) for r in rows if r.kind == "purchase"])
    return [
        LedgerLine(
            id=r.id,
            created_at=r.created_at,
            amount_cents=r.amount_cents,
            kind=r.kind,
            description=r.description,
            avatar=avatars.get(_uuid(r.details.get("avatar_id"))),
            topup_id=_uuid(r.details.get("topup_id")),
            reason=r.details.get("reason"),
            withdrawal_waiver=r.details.get("withdrawal_waiver"),
        )
        for r in rows
    ]


def _avatars(*, session: Session, ids: list[uuid.UUID | None]) -> dict[uuid.UUID, AvatarBought]:
    wanted = {i for i in ids if i is not None}
    return {
        avatar_id: AvatarBought(
            public_id=a.public_id,
            url=avatars_service.public_url(a.public_id),
            theme_slug=a.theme_slug,
            theme_name=a.theme_name,
            theme_name_fr=a.theme_name_fr or a.theme_name,
        )
        for avatar_id, a in avatars_service.describe(session=session, avatar_ids=wanted).items()
    }


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except (TypeError, ValueError):
        return None
