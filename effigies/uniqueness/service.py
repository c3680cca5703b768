"""The perceptual-hash registry: no near-copy of a sold avatar or of a training image is sold."""
from __future__ import annotations

import uuid

import imagehash
from PIL import Image
from sqlalchemy import cast, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.types import UserDefinedType

from effigies.errors import DomainError
from effigies.uniqueness.models import RegistryEntry

# Arbitrary constant: the advisory lock key that serialises registry claims.
_REGISTRY_LOCK = 7420002
# Rows per INSERT: 3 parameters each, well under PostgreSQL's 65,535 per statement.
_INSERT_BATCH = 5000


class UniquenessError(DomainError):
    status = 409


def phash(image: Image.Image) -> int:
    """64-bit DCT perceptual hash as a signed int64 (PostgreSQL bigint)."""
    bits = imagehash.phash(image).hash.flatten()
    value = int("".join("1" if b else "0" for b in bits), 2)
    return value - (1 << 64) if value >= (1 << 63) else value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()


class _Bit64(UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "BIT(64)"


def _distance(query: int):
    # bigint XOR, then popcount of its 64 bits (PostgreSQL 14+: bit_count on bit strings).
    return func.bit_count(cast(RegistryEntry.phash.op("#")(query), _Bit64()))


def find_near(*, session: Session, phash_value: int, radius: int, limit: int = 10) -> list[RegistryEntry]:
    """Every stored fingerprint within `radius` bits (a full scan: fine for the skeleton's sizes)."""
    distance = _distance(phash_value)
    return list(session.scalars(select(RegistryEntry).where(distance <= radius).order_by(distance).limit(limit)))


def near_mask(*, session: Session, phash_values: list[int], radius: int) -> list[bool]:
    """For each hash, whether a registered fingerprint lies within `radius`."""
    return [bool(find_near(session=session, phash_value=h, radius=radius, limit=1)) for h in phash_values]


def lock_for_claim(*, session: Session) -> None:
    """Serialise claims until the transaction ends, so two near-duplicates cannot both be sold."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REGISTRY_LOCK})


def register(
    *, session: Session, phash_value: int, kind: str, theme_id: uuid.UUID | None = None, avatar_id: uuid.UUID | None = None
) -> RegistryEntry:
    entry = RegistryEntry(phash=phash_value, kind=kind, theme_id=theme_id, avatar_id=avatar_id)
    session.add(entry)
    session.flush()
    return entry


def register_training_images(*, session: Session, theme_id: uuid.UUID, hashes: list[int]) -> int:
    """Record a theme's training images once each; returns how many were new.

    Runs at every start with ~10k hashes: one query for those already stored,
    then multi-row INSERTs of the rest; ON CONFLICT on the partial unique index
    (theme_id, phash) WHERE kind = 'training' keeps two concurrent seedings from
    duplicating rows.
    """
    existing = set(
        session.scalars(
            select(RegistryEntry.phash).where(RegistryEntry.kind == "training", RegistryEntry.theme_id == theme_id)
        )
    )
    new = sorted(set(hashes) - existing)
    inserted = 0
    for start in range(0, len(new), _INSERT_BATCH):
        rows = [{"phash": h, "kind": "training", "theme_id": theme_id} for h in new[start : start + _INSERT_BATCH]]
        statement = (
            pg_insert(RegistryEntry)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["theme_id", "phash"], index_where=text("kind = 'training'"))
            .returning(RegistryEntry.id)
        )
        inserted += len(session.execute(statement).all())
    return inserted


def registry_size(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RegistryEntry)) or 0
