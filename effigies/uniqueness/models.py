from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, UserDefinedType

from effigies.db import Base
from effigies.uniqueness.fingerprint import BITS, from_bitstring, to_bitstring
from effigies.uniqueness.index import BANDS


class Bits(UserDefinedType):
    """PostgreSQL bit(256)."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return f"BIT({BITS})"


class Fingerprint(TypeDecorator):
    """bytes in Python, bit(256) in PostgreSQL: `#` (XOR) and bit_count() give the distance in SQL."""

    impl = Bits
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect) -> str | None:
        return None if value is None else to_bitstring(value)

    def process_result_value(self, value: str | None, dialect) -> bytes | None:
        return None if value is None else from_bitstring(value)


def band_column(band: int) -> str:
    return f"band{band}"


class RegistryEntry(Base):
    """A fingerprint nobody may buy a near-copy of: a sold avatar, or a theme's training image.

    band0..band9 hold the fingerprint's multi-index-hashing bands (effigies.uniqueness.index),
    each B-tree indexed: a lookup probes them instead of scanning the table."""

    __tablename__ = "registry_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('sold', 'training')", name="kind"),
        # A theme's training image is registered once, however often the seeding runs (and races).
        Index(
            "uq_registry_entries_training_theme_id_fingerprint", "theme_id", "fingerprint",
            unique=True, postgresql_where=text("kind = 'training'"),
        ),
        *(Index(f"ix_registry_entries_{band_column(b)}", band_column(b)) for b in range(BANDS)),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    fingerprint: Mapped[bytes] = mapped_column(Fingerprint())
    kind: Mapped[str] = mapped_column(String(16))
    theme_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("themes.id", ondelete="SET NULL"))
    avatar_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("avatars.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    band0: Mapped[int] = mapped_column(Integer)
    band1: Mapped[int] = mapped_column(Integer)
    band2: Mapped[int] = mapped_column(Integer)
    band3: Mapped[int] = mapped_column(Integer)
    band4: Mapped[int] = mapped_column(Integer)
    band5: Mapped[int] = mapped_column(Integer)
    band6: Mapped[int] = mapped_column(Integer)
    band7: Mapped[int] = mapped_column(Integer)
    band8: Mapped[int] = mapped_column(Integer)
    band9: Mapped[int] = mapped_column(Integer)
