"""Avatars: handing one over (the money side is effigies.billing.checkout, same transaction), who owns
what, sales. The public images: effigies.avatars.delivery."""
from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from effigies.avatars.models import Avatar, AvatarEmailLink
from effigies.config import get_settings
from effigies.db import utcnow
from effigies.errors import DomainError
from effigies.generation import service as generation_service
from effigies.themes import service as themes_service
from effigies.themes.models import Theme
from effigies.uniqueness import service as uniqueness_service

PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")


class AvatarsError(DomainError):
    pass


def public_url(public_id: str, size: int | None = None, ext: str = "png") -> str:
    """The avatar's public address (effigies.avatars.public); 256 px PNG without size and format."""
    base = f"{get_settings().public_url.rstrip('/')}/a/{public_id}.{ext}"
    return f"{base}?s={size}" if size else base


def hash_url(digest: str) -> str:
    """The Gravatar/Libravatar-compatible address of an e-mail hash (effigies.avatars.public)."""
    return f"{get_settings().public_url.rstrip('/')}/avatar/{digest}"


@dataclass(frozen=True)
class HandOver:
    """An avatar now (or already) the buyer's; `charge` is False when it was theirs already (a
    double click, a retry): the caller charges only a new one, in the same transaction."""

    avatar: Avatar
    theme_name: str
    charge: bool


def hand_over(*, session: Session, user_id: uuid.UUID, candidate_id: uuid.UUID) -> HandOver:
    """Lock the offer, check it, claim its fingerprint, make the avatar: the ownership half of a
    purchase (effigies.billing.checkout adds the money, in the same transaction)."""
    settings = get_settings()
    not_found = AvatarsError(
        "candidate_not_found", "This proposal does not exist, or is not yours: generate new ones.", status=404
    )
    theme_id = generation_service.theme_of_offer(session=session, candidate_id=candidate_id)
    if theme_id is None:
        raise not_found
    theme = themes_service.hold_for_sale(session=session, theme_id=theme_id)  # the theme, then the offer
    candidate = generation_service.lock_offer(session=session, candidate_id=candidate_id, user_id=user_id)
    if candidate is None:
        raise not_found
    if candidate.status == "sold":
        # The same person asking twice (double click, retry) gets the same avatar, charged once.
        return HandOver(session.scalar(select(Avatar).where(Avatar.candidate_id == candidate.id)), theme.name, False)
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

    avatar = Avatar(
        id=uuid.uuid4(),
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
    generation_service.mark_sold(session=session, candidate_id=candidate.id)
    return HandOver(avatar, theme.name, True)


def list_owned(*, session: Session, user_id: uuid.UUID) -> list[tuple[Avatar, Theme]]:
    rows = session.execute(
        select(Avatar, Theme).join(Theme, Avatar.theme_id == Theme.id).where(Avatar.owner_id == user_id).order_by(Avatar.created_at.desc())
    ).all()
    return [(a, t) for a, t in rows]


def sales_by_theme(*, session: Session, theme_ids: list[uuid.UUID] | None = None) -> dict[uuid.UUID, tuple[int, int]]:
    """(avatars sold, revenue in cents) per theme id, of the given themes or of all.

    One grouped count; at hundreds of millions of sales this becomes a counter kept with each
    purchase (docs/scaling.md), but today it reads a few thousand rows."""
    query = select(Avatar.theme_id, func.count(), func.coalesce(func.sum(Avatar.price_cents), 0)).group_by(Avatar.theme_id)
    if theme_ids is not None:
        query = query.where(Avatar.theme_id.in_(theme_ids))
    return {theme_id: (int(count), int(revenue)) for theme_id, count, revenue in session.execute(query)}


def disown_all(*, session: Session, user_id: uuid.UUID) -> None:
    """The person is leaving (effigies.accounts.service.delete_account, same transaction): their
    avatars stay sold, ownerless since now, which is how certificates and the verify page tell it."""
    session.execute(
        update(Avatar).where(Avatar.owner_id == user_id).values(owner_id=None, owner_released_at=utcnow())
    )
    forget_email_links(session=session, user_id=user_id)


@dataclass(frozen=True)
class Ownership:
    """Whether a sold avatar still belongs to the account it was sold to. Once that account is
    deleted it belongs to nobody: `ended_at` says since when (None: before this was recorded)."""

    owned: bool
    ended_at: datetime | None = None


def ownership(*, session: Session, public_id: str) -> Ownership | None:
    """The avatar's ownership now; None for an avatar this installation never sold."""
    row = session.execute(
        select(Avatar.owner_id, Avatar.owner_released_at).where(Avatar.public_id == public_id)
    ).first()
    if row is None:
        return None
    owner_id, released_at = row
    return Ownership(True) if owner_id is not None else Ownership(False, released_at)


def owned_counts(*, session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many avatars each of these users owns (absent: none)."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(Avatar.owner_id, func.count()).where(Avatar.owner_id.in_(user_ids)).group_by(Avatar.owner_id)
    )
    return dict(rows.all())


@dataclass(frozen=True)
class Described:
    public_id: str
    theme_slug: str
    theme_name: str
    theme_name_fr: str | None


def describe(*, session: Session, avatar_ids: set[uuid.UUID]) -> dict[uuid.UUID, Described]:
    """What a wallet line names of each avatar bought: its public id and its theme."""
    if not avatar_ids:
        return {}
    rows = session.execute(
        select(Avatar.id, Avatar.public_id, Theme.slug, Theme.name, Theme.name_fr)
        .join(Theme, Avatar.theme_id == Theme.id)
        .where(Avatar.id.in_(avatar_ids))
    )
    return {r.id: Described(r.public_id, r.slug, r.name, r.name_fr) for r in rows}


# E-mail links: /avatar/{hash}, Gravatar- and Libravatar-compatible (effigies.avatars.public).
HEX_HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{64})$")


def address_hashes(email: str) -> tuple[str, str]:
    """(MD5, SHA-256) hex of the address as Gravatar and Libravatar hash it: trimmed, lower-cased."""
    normal = email.strip().lower().encode("utf-8")
    return hashlib.md5(normal, usedforsecurity=False).hexdigest(), hashlib.sha256(normal).hexdigest()


@dataclass(frozen=True)
class EmailLink:
    public_id: str  # of the avatar the address answers with
    sha256: str  # /avatar/<sha256> shows it; the address itself is never returned
    created_at: datetime


def _owned_avatar_id(*, session: Session, user_id: uuid.UUID, public_id: str) -> uuid.UUID:
    avatar_id = session.scalar(select(Avatar.id).where(Avatar.public_id == public_id, Avatar.owner_id == user_id))
    if avatar_id is None:  # someone else's or nobody's: the same answer (never tell which)
        raise AvatarsError("avatar_not_found", "You own no avatar with this id.", status=404)
    return avatar_id


def link_email(*, session: Session, user_id: uuid.UUID, email: str, email_verified: bool, public_id: str) -> EmailLink:
    """The address now answers with this avatar of the user's, instead of any it answered with
    before (one avatar per address). Only a verified address of the user's (the account's own or
    an extra one: effigies.accounts.addresses, which the caller asked): a hash anyone can compute
    must not let one person put a picture on another's address. Committed."""
    avatar_id = _owned_avatar_id(session=session, user_id=user_id, public_id=public_id)
    if not email_verified:
        raise AvatarsError("email_not_verified",
                           "Confirm your e-mail address first (the link we sent you), then link it.", status=409)
    md5, sha256 = address_hashes(email)
    # One statement, so two links at once of the same address leave one row, never an error; a
    # row of another account's is never taken over (accounts keeps a verified address one
    # account's, and drops the old owner's link when it changes hands).
    linked = session.execute(
        insert(AvatarEmailLink)
        .values(id=uuid.uuid4(), user_id=user_id, avatar_id=avatar_id, md5=md5, sha256=sha256)
        .on_conflict_do_update(index_elements=["md5"],
                               set_={"avatar_id": avatar_id, "created_at": func.now()},
                               where=AvatarEmailLink.user_id == user_id)
        .returning(AvatarEmailLink.id)
    ).first()
    if linked is None:
        raise AvatarsError("email_linked_elsewhere", "Another account shows an avatar for this address.", status=409)
    session.commit()
    return next(link for link in email_links(session=session, user_id=user_id, emails=[email]) if link.sha256 == sha256)


def email_links(*, session: Session, user_id: uuid.UUID, emails: list[str]) -> list[EmailLink]:
    """Which of these addresses of the user's answer, with the avatar each shows (the caller
    names the addresses that are the user's now: effigies.accounts)."""
    hashes = [address_hashes(email)[1] for email in emails]
    if not hashes:
        return []
    rows = session.execute(
        select(Avatar.public_id, AvatarEmailLink.sha256, AvatarEmailLink.created_at)
        .select_from(AvatarEmailLink)
        .join(Avatar, (Avatar.id == AvatarEmailLink.avatar_id) & (Avatar.owner_id == AvatarEmailLink.user_id))
        .where(AvatarEmailLink.user_id == user_id, AvatarEmailLink.sha256.in_(hashes))
        .order_by(AvatarEmailLink.created_at)
    ).all()
    return [EmailLink(*row) for row in rows]


def linked_addresses(*, session: Session, emails: list[str]) -> set[str]:
    """Which of these addresses show an avatar now (the support desk's view, for admins)."""
    by_hash = {address_hashes(email)[1]: email for email in emails}
    if not by_hash:
        return set()
    rows = session.scalars(select(AvatarEmailLink.sha256).where(AvatarEmailLink.sha256.in_(list(by_hash))))
    return {by_hash[digest] for digest in rows}


def unlink_email(*, session: Session, user_id: uuid.UUID, email: str) -> None:
    """This address of the user's answers with no avatar any more, from the next request on. Committed."""
    forget_email_links(session=session, user_id=user_id, emails=[email])
    session.commit()


def forget_email_links(*, session: Session, user_id: uuid.UUID, emails: list[str] | None = None) -> None:
    """Drops the user's links of these addresses (all of them without `emails`), in the caller's
    transaction: an address stops being the account's (effigies.accounts: a change of address,
    an extra address removed) or the account goes (disown_all)."""
    query = delete(AvatarEmailLink).where(AvatarEmailLink.user_id == user_id)
    if emails is not None:
        query = query.where(AvatarEmailLink.sha256.in_([address_hashes(email)[1] for email in emails]))
    session.execute(query)


# The avatar an address's MD5 or SHA-256 answers with: the link, and the avatar still owned by
# whoever linked it. Plain SQL for a DB-API (psycopg) connection that the fast path of
# /avatar/{hash} holds open (effigies.avatars.hash_lookups): through an ORM session each
# request cost 0.65 ms of CPU (session, pool checkout and its ping, compilation), 9 times the
# 0.07 ms of this one. psycopg prepares it on the server after a few runs.
_HASH_SQL = {
    column: "SELECT a.public_id FROM avatar_email_links l JOIN avatars a ON a.id = l.avatar_id "
            f"AND a.owner_id = l.user_id WHERE l.{column} = %s"
    for column in ("md5", "sha256")
}


def avatar_for_hash_on(connection, digest: str) -> str | None:
    """The public id of the avatar this lower-case hex MD5 or SHA-256 answers with, read on a
    DB-API connection in autocommit mode. Never cached: an unlinked address stops answering at
    the next request."""
    row = connection.execute(_HASH_SQL["md5" if len(digest) == 32 else "sha256"], (digest,)).fetchone()
    return row[0] if row is not None else None
