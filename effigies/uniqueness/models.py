from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from effigies.db import Base


class RegistryEntry(Base):
    """A fingerprint nobody may buy a near-copy of: a sold avatar, or a theme's training image."""

    __tablename__ = "registry_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('sold', 'training')", name="kind"),
        # A theme's training image is registered once, however often the seeding runs (and races).
        Index(
            "uq_registry_entries_training_theme_id_phash", "theme_id", "phash",
            unique=True, postgresql_where=text("kind = 'training'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    phash: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    theme_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("themes.id", ondelete="SET NULL"))
    avatar_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("avatars.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
