"""Ownership certificates: facts about a sold avatar, signed with Ed25519.

A certificate is {"certificate": {facts}, "signature": base64url}; the signature covers the
canonical JSON of the facts (sorted keys, no spaces, UTF-8). Ed25519 signatures are
deterministic, so a certificate is computed from the avatar's row whenever asked: no table.
Verification needs no database, which is what lets `effigies verify` work offline.

A signature is forever; ownership is not. A certificate downloaded before its owner deleted the
account stays genuine, but names someone who owns nothing any more: `with_ownership` adds what
the database knows now (ownership ended on <date>), for the API, the verify page and
`effigies verify --online`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from effigies.accounts.models import User
from effigies.avatars import service as avatars_service
from effigies.avatars.models import Avatar
from effigies.certificates import keys as keys_module
from effigies.certificates.keys import PublicKey
from effigies.certificates.schemas import CertificateFacts
from effigies.config import get_settings
from effigies.errors import NotFound
from effigies.themes.models import ModelVersion, Theme

VERSION = 1


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    # validate=True: a signature with stray characters is refused rather than read around them.
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars="-_", validate=True)


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _avatar_not_found() -> NotFound:
    return NotFound("avatar_not_found", "No such avatar.")


def facts_for(*, session: Session, public_id: str, owner_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The avatar's certificate facts, unsigned. With owner_id, someone else's avatar is not found:
    whether it exists is none of their business."""
    if not avatars_service.PUBLIC_ID.match(public_id):
        raise _avatar_not_found()
    query = (
        select(Avatar, Theme.slug, ModelVersion.version, User.display_name)
        .join(Theme, Avatar.theme_id == Theme.id)
        .join(ModelVersion, Avatar.model_version_id == ModelVersion.id)
        .outerjoin(User, Avatar.owner_id == User.id)
        .where(Avatar.public_id == public_id)
    )
    if owner_id is not None:
        query = query.where(Avatar.owner_id == owner_id)
    row = session.execute(query).first()
    if row is None:
        raise _avatar_not_found()
    avatar, theme_slug, model_version, owner_name = row
    image = (get_settings().images_dir / avatar.image_path).read_bytes()
    return {
        "version": VERSION,
        "avatar_public_id": avatar.public_id,
        "theme": theme_slug,
        "model_version": model_version,
        "phash": avatar.fingerprint.hex(),
        "image_sha256": hashlib.sha256(image).hexdigest(),
        # None once the owner deleted their account: the avatar stays sold, the name goes.
        "owner": owner_name,
        "purchased_at": _utc(avatar.created_at),
    }


def sign(facts: dict[str, Any]) -> dict[str, Any]:
    """The signed certificate document; the key's id goes inside the facts so that it is signed too."""
    private = keys_module.signing_key()
    facts = {**facts, "key_id": keys_module.key_id(private.public_key()), "algorithm": keys_module.ALGORITHM}
    return {"certificate": facts, "signature": _b64url(private.sign(canonical_json(facts)))}


def certificate(*, session: Session, public_id: str, owner_id: uuid.UUID | None = None) -> dict[str, Any]:
    return sign(facts_for(session=session, public_id=public_id, owner_id=owner_id))


@dataclass(frozen=True)
class Verification:
    genuine: bool
    reason: str  # ok | malformed | unknown_key | bad_signature
    message: str
    facts: CertificateFacts | None = None
    key: PublicKey | None = None
    # Online only (with_ownership): "current" while the avatar belongs to the account it was sold
    # to, "ended" once that account was deleted; None offline, or for an avatar we do not know.
    ownership: str | None = None
    ownership_ended_at: datetime | None = None


def verify(document: Any, keys: list[PublicKey]) -> Verification:
    """Checks a certificate document against `keys`; never raises on bad input."""
    if not isinstance(document, dict) or set(document) != {"certificate", "signature"}:
        return Verification(False, "malformed", 'This is not a certificate: expected {"certificate", "signature"}.')
    raw, signature = document["certificate"], document["signature"]
    try:
        facts = CertificateFacts.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "certificate"
        return Verification(False, "malformed", f"This certificate is not well formed ({where}: {first['msg']}).")
    key = next((k for k in keys if k.id == facts.key_id), None)
    if key is None:
        return Verification(
            False, "unknown_key", f"This certificate names a signing key ({facts.key_id}) that is not one of ours.", facts
        )
    try:
        if not isinstance(signature, str) or len(signature) > 200:
            raise ValueError
        key.key.verify(_unb64url(signature), canonical_json(raw))
    except (InvalidSignature, ValueError, binascii.Error):
        return Verification(
            False, "bad_signature", "The signature does not match: this certificate was altered or forged.", facts, key
        )
    return Verification(True, "ok", "Genuine: signed by Effigies Edification.", facts, key)


def with_ownership(result: Verification, *, session: Session) -> Verification:
    """A genuine certificate's verdict with its avatar's ownership now. The signature stays
    genuine; once the owner has deleted their account the verdict says since when nobody owns it."""
    if not result.genuine:
        return result
    now = avatars_service.ownership(session=session, public_id=result.facts.avatar_public_id)
    if now is None:
        return result
    if now.owned:
        return replace(result, ownership="current")
    when = f"on {now.ended_at.astimezone(timezone.utc):%Y-%m-%d}" if now.ended_at else "(date not recorded)"
    return replace(
        result, ownership="ended", ownership_ended_at=now.ended_at,
        message=f"Genuine signature, but ownership ended {when}: the owner's account was deleted, "
                "and the avatar has no owner now.",
    )
