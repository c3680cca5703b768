"""Purchase (money and ownership in one transaction). The public images: effigies.avatars.delivery."""
from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from effigies.avatars.models import Avatar
from effigies.avatars.schemas import AvatarRef, PurchaseOut
from effigies.billing import idempotency
from effigies.billing.ledger import Posting, post, system_account, wallet
from effigies.config import get_settings
from effigies.db import utcnow
from effigies.errors import DomainError
from effigies.generation.models import Candidate
from effigies.themes.models import Theme
from effigies.uniqueness import service as uniqueness_service

PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")


class AvatarsError(DomainError):
    pass


def public_url(public_id: str, size: int | None = None, ext: str = "png") -> str:
    """The avatar's public address (effigies.avatars.public); 256 px PNG without size and format."""
    base = f"{get_settings().public_url.rstrip('/')}/a/{public_id}.{ext}"
    return f"{base}?s={size}" if size else base


@dataclass(frozen=True)
class PurchaseResult:
    """The answer to a purchase request; `replayed` when an Idempotency-Key returned a stored one."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def purchase(
    *, session: Session, user_id: uuid.UUID, candidate_id: uuid.UUID, idempotency_key: str | None = None
) -> PurchaseResult:
    """Buy a candidate in the caller's one transaction. With a key, the response is stored in that
    same transaction, so a retry (even one racing the first) gets it again and is never charged."""
    if idempotency_key is not None:
        replay = idempotency.claim(
            session=session, user_id=user_id, key=idempotency_key, request=f"purchase:{candidate_id}"
        )
        if replay is not None:
            return PurchaseResult(replay.status, replay.body, replayed=True)
    avatar = _hand_over(session=session, user_id=user_id, candidate_id=candidate_id)
    body = PurchaseOut(avatar=AvatarRef(public_id=avatar.public_id, url=public_url(avatar.public_id))).model_dump(mode="json")
    if idempotency_key is not None:
        idempotency.record(session=session, user_id=user_id, key=idempotency_key, status=201, body=body)
    return PurchaseResult(201, body)


def _hand_over(*, session: Session, user_id: uuid.UUID, candidate_id: uuid.UUID) -> Avatar:
    """Lock, check, claim, debit, hand over."""
    settings = get_settings()
    candidate = session.get(Candidate, candidate_id, with_for_update=True, populate_existing=True)
    if candidate is None or candidate.user_id != user_id:
        raise AvatarsError(
            "candidate_not_found", "This proposal does not exist, or is not yours: generate new ones.", status=404
        )
    if candidate.status == "sold":
        # The same person asking twice (double click, retry) gets the same avatar, charged once.
        return session.scalar(select(Avatar).where(Avatar.candidate_id == candidate.id))
    theme = session.get(Theme, candidate.theme_id)
    if candidate.status == "expired" or candidate.expires_at <= utcnow() or theme.status == "retired":
        raise AvatarsError("candidate_expired", "This proposal has expired: generate new ones.", status=410)

    try:
        # Until this transaction ends, any purchase of a near-copy waits for us, then is refused.
        uniqueness_service.claim(session=session, value=candidate.fingerprint, radius=settings.uniqueness_radius)
    except uniqueness_service.UniquenessError:
        raise AvatarsError(
            "near_duplicate_sold",
            "Someone has just bought an avatar almost identical to this one. Generate again: there are plenty more!",
            status=409,
        ) from None

    account = wallet(session=session, user_id=user_id)
    avatar_id = uuid.uuid4()
    post(
        session=session,
        kind="purchase",
        reference=f"purchase:{candidate.id}",
        description=f"Avatar « {theme.name} »",
        postings=[
            Posting(account.id, -settings.price_cents),
            Posting(system_account(session=session, kind="revenue").id, settings.price_cents),
        ],
        details={"avatar_id": str(avatar_id)},
    )
    avatar = Avatar(
        id=avatar_id,
        public_id=secrets.token_urlsafe(12),
        owner_id=user_id,
        candidate_id=candidate.id,
        theme_id=candidate.theme_id,
        model_version_id=candidate.model_version_id,
        fingerprint=candidate.fingerprint,
        image_path=candidate.image_path,
        price_cents=settings.price_cents,
    )
    session.add(avatar)
    session.flush()
    uniqueness_service.register(
        session=session, value=candidate.fingerprint, kind="sold", theme_id=candidate.theme_id, avatar_id=avatar.id
    )
    candidate.status = "sold"
    return avatar


def list_owned(*, session: Session, user_id: uuid.UUID) -> list[tuple[Avatar, Theme]]:
    rows = session.execute(
        select(Avatar, Theme).join(Theme, Avatar.theme_id == Theme.id).where(Avatar.owner_id == user_id).order_by(Avatar.created_at.desc())
    ).all()
    return [(a, t) for a, t in rows]
