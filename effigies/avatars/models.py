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


class AvatarEmailLink(Base):
    """An e-mail address of the owner's answering with one of their avatars at /avatar/{hash}
    (effigies.avatars.email_links): Gravatar's MD5 and Libravatar's SHA-256 of the trimmed,
    lower-cased address. The address itself is not kept here: the hashes are all a lookup needs."""

    __tablename__ = "avatar_email_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    avatar_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("avatars.id", ondelete="CASCADE"), index=True)
    # One avatar per address: whoever links it again replaces the row, never adds a second.
    md5: Mapped[str] = mapped_column(String(32), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
