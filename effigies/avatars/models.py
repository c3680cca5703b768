from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from effigies.db import Base


class Avatar(Base):
    """A sold image and its one owner. `public_id` is what the public URL shows."""

    __tablename__ = "avatars"
    # Admin stats read the last days' sales by created_at (effigies.monitoring); see generation_jobs.
    __table_args__ = (Index("ix_avatars_created_at_brin", "created_at", postgresql_using="brin"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    # Nullable so deleting an account removes personal data while the image stays sold.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # When ownership ended (the owner deleted their account; owner_id is then NULL): what the
    # verification of a certificate issued before says (effigies.certificates). NULL while owned.
    owner_released_at: Mapped[datetime | None]
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("candidates.id"), unique=True)
    theme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("themes.id"))
    model_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id"))
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    image_path: Mapped[str] = mapped_column(String(500))
    price_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
