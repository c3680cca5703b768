"""Users, passwords (argon2id) and server-side sessions."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from effigies.accounts.models import AuthSession, User
from effigies.config import get_settings
from effigies.db import utcnow
from effigies.errors import DomainError

# OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the e-mail is unknown, so a log-in takes as long whether or not the account exists.
_DUMMY_HASH = _hasher.hash("effigies-timing-equaliser")


class AccountsError(DomainError):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def signup(*, session: Session, email: str, password: str, display_name: str, role: str = "user") -> User:
    user = User(
        email=normalise_email(email),
        password_hash=hash_password(password),
        display_name=display_name,
        role=role,
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AccountsError("email_taken", "An account already uses this e-mail address.", status=409) from None
    return user


def authenticate(*, session: Session, email: str, password: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise AccountsError("invalid_credentials", "Wrong e-mail or password.", status=401)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(*, session: Session, user: User) -> str:
    """A fresh random token on every log-in (never reuse one: session fixation)."""
    token = secrets.token_urlsafe(32)
    max_age = timedelta(days=get_settings().session_max_age_days)
    session.add(AuthSession(token_hash=_token_hash(token), user_id=user.id, expires_at=utcnow() + max_age))
    return token


def user_for_token(*, session: Session, token: str) -> User | None:
    row = session.get(AuthSession, _token_hash(token))
    if row is None or row.expires_at <= utcnow():
        return None
    return session.get(User, row.user_id)


def close_session(*, session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_hash == _token_hash(token)))


def update_profile(*, session: Session, user: User, locale: str | None = None, display_name: str | None = None) -> User:
    if locale is not None:
        user.locale = locale
    if display_name is not None:
        user.display_name = display_name.strip() or user.display_name
    return user


def ensure_admin(*, session: Session, email: str, password: str) -> User:
    """Make sure this admin exists and can log in with this password (start-up, `effigies admin create`)."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        return signup(session=session, email=email, password=password, display_name="Admin", role="admin")
    user.role = "admin"
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.password_hash = hash_password(password)
    return user
