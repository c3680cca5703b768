"""Purchase (money and ownership in one transaction) and the public avatar images."""
from __future__ import annotations

import io
import re
import os
import secrets
import uuid
from pathlib import Path

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from effigies.avatars.models import Avatar
from effigies.billing.ledger import Posting, post, system_account, wallet
from effigies.config import get_settings
from effigies.db import utcnow
from effigies.errors import DomainError
from effigies.generation.models import Candidate
from effigies.themes.models import Theme
from effigies.uniqueness import service as uniqueness_service

MIN_SIZE, MAX_SIZE = 32, 512
PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")


class AvatarsError(DomainError):
    pass


def public_url(public_id: str, size: int | None = None) -> str:
    base = f"{get_settings().public_url.rstrip('/')}/a/{public_id}.png"
    return f"{base}?s={size}" if size else base


def purchase(*, session: Session, user_id: uuid.UUID, candidate_id: uuid.UUID) -> Avatar:
    """Lock, check, claim, debit, hand over — all in the caller's one transaction."""
    settings = get_settings()
    candidate = session.get(Candidate, candidate_id, with_for_update=True, populate_existing=True)
    if candidate is None or candidate.user_id != user_id:
        raise AvatarsError("candidate_not_found", "No such candidate.", status=404)
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
    post(
        session=session,
        kind="purchase",
        reference=f"purchase:{candidate.id}",
        description=f"Avatar « {theme.name} »",
        postings=[
            Posting(account.id, -settings.price_cents),
            Posting(system_account(session=session, kind="revenue").id, settings.price_cents),
        ],
    )
    avatar = Avatar(
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


def scaled_image(*, session: Session, public_id: str, size: int) -> Path:
    """The avatar at `size` px, cached on disk: sold images never change, so neither do variants."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise AvatarsError("invalid_size", f"Size must be between {MIN_SIZE} and {MAX_SIZE} pixels.", status=422)
    if not PUBLIC_ID.match(public_id):  # it becomes part of a file path below
        raise AvatarsError("avatar_not_found", "No such avatar.", status=404)
    images = get_settings().images_dir
    cached = images / "avatars" / public_id / f"{size}.png"
    if cached.is_file():
        return cached
    row = session.execute(
        select(Avatar, Theme.pixel_art).join(Theme, Avatar.theme_id == Theme.id).where(Avatar.public_id == public_id)
    ).first()
    if row is None:
        raise AvatarsError("avatar_not_found", "No such avatar.", status=404)
    avatar, pixel_art = row
    with Image.open(images / avatar.image_path) as source:
        resample = Image.Resampling.NEAREST if pixel_art else Image.Resampling.LANCZOS
        scaled = source.convert("RGB").resize((size, size), resample)
    buffer = io.BytesIO()
    scaled.save(buffer, format="PNG", optimize=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, cached)
    return cached
