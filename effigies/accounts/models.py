from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func, text
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
    # When the person proved they read mail at `email` (a verification or reset link); NULL
    # until then, and again after the address changes. Buying does not wait for it (README).
    email_verified_at: Mapped[datetime | None]

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None
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


class AccountToken(Base):
    """A single-use link sent by e-mail: verify an address (purpose "verify_email", `email` the
    address it was sent to, a new one for a change) or reset the password ("reset_password").
    Only the token's SHA-256 is stored; the link carries the token itself."""

    __tablename__ = "account_tokens"
    __table_args__ = (CheckConstraint("purpose IN ('verify_email', 'reset_password')", name="purpose"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AccountAddress(Base):
    """An extra e-mail address of the account's (effigies.accounts.addresses), for /avatar/{hash}:
    added pending, verified by the single-use link mailed to it (only its SHA-256 is kept, as
    for account_tokens). A verified address is one account's only (the partial unique index)."""

    __tablename__ = "account_addresses"
    __table_args__ = (
        UniqueConstraint("user_id", "email"),
        Index("uq_account_addresses_verified_email", "email", unique=True, postgresql_where=text("verified_at IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))  # normalised, as users.email
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    verified_at: Mapped[datetime | None]
    # The last link mailed (a new one replaces it); kept once used, so a second click says so.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime | None]


class SignupRequest(Base):
    """A sign-up waiting for its e-mailed link. The account is only created when the link is
    opened: until then nobody holds a session or a row in ``users`` for the address, so the
    sign-up answer is the same whether or not the address already has an account, and no one
    can pre-register somebody else's address with a password of their own (the link reaches only
    the address's owner, and creates the account with the password of that very request).
    Only the token's SHA-256 is stored; ``visitor_key`` is the SHA-256 of the browser's visitor
    id (effigies.generation), whose proposals the account takes over when the link is opened."""

    __tablename__ = "signup_requests"
    __table_args__ = (CheckConstraint("locale IN ('fr', 'en')", name="locale"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(80))
    locale: Mapped[str] = mapped_column(String(2))
    visitor_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
