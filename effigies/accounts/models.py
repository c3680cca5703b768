from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from effigies.db import Base


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'admin')", name="role"),
        CheckConstraint("locale IN ('fr', 'en')", name="locale"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Stored lower-cased: e-mail addresses compare case-insensitively in practice.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16), default="user")
    locale: Mapped[str] = mapped_column(String(2), default="fr")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set when the account is deleted: the row stays (the wallet's ledger and top-ups point at its
    # id) but holds no personal data any more (service.delete_account).
    deleted_at: Mapped[datetime | None]


class AuthSession(Base):
    """A server-side log-in session; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The absolute deadline, fixed at log-in; using the session never moves it.
    expires_at: Mapped[datetime]
    # For the idle timeout; refreshed at most once a minute (service.TOUCH_EVERY).
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
