"""Users, passwords (argon2id) and server-side sessions."""
from __future__ import annotations

import hashlib
import secrets
import unicodedata
import uuid
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from effigies.accounts import throttle
from effigies.accounts.models import AuthSession, User
from effigies.avatars import service as avatars_service
from effigies.config import get_settings
from effigies.db import session_scope, utcnow
from effigies.errors import DomainError

# OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the e-mail is unknown, so a log-in takes as long whether or not the account exists.
_DUMMY_HASH = _hasher.hash("effigies-timing-equaliser")
# Writing last_seen_at on every request would turn each read into a write; a minute's
# imprecision on a timeout counted in days does not matter.
TOUCH_EVERY = timedelta(minutes=1)
# What a deleted account keeps: no address, no name, and a hash no password can ever match.
DELETED_DISPLAY_NAME = "—"
_DELETED_PASSWORD_HASH = "!deleted"


class AccountsError(DomainError):
    pass


def normalise_email(email: str) -> str:
    """The one form an address is stored and looked up in: NFKC (so a fullwidth or other
    compatibility look-alike is the same account, not a second one), trimmed, lower-cased."""
    return unicodedata.normalize("NFKC", email).strip().lower()


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


def _password_matches(*, user: User | None, account: str, password: str, ip: str) -> bool:
    """Every password check goes through here, so each one is throttled (accounts.throttle)."""
    with throttle.attempt(account=account, ip=ip) as attempt:  # 429 once either budget is spent
        try:
            matches = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
        except (VerificationError, InvalidHashError):
            matches = False
        if not matches:
            return False  # the attempt keeps its place in both budgets: a recorded failure
        attempt.succeeded()
    if _hasher.check_needs_rehash(user.password_hash):
        # Parameters were raised since this hash was made; the plain password is at hand only now.
        user.password_hash = hash_password(password)
    return True


def authenticate(*, session: Session, email: str, password: str, ip: str) -> User:
    email = normalise_email(email)
    user = session.scalar(select(User).where(User.email == email, User.deleted_at.is_(None)))
    if not _password_matches(user=user, account=email, password=password, ip=ip):
        raise AccountsError("invalid_credentials", "Wrong e-mail or password.", status=401)
    return user


def _confirm_password(*, user: User, password: str, ip: str) -> None:
    """For changes that a stolen session alone must not be able to make."""
    if not _password_matches(user=user, account=user.email, password=password, ip=ip):
        raise AccountsError("wrong_password", "Your current password is not correct.", status=400)


def change_password(*, session: Session, user: User, current_password: str, new_password: str, ip: str) -> str:
    """Ends every session of the account (a thief's included) and returns a fresh token for the caller."""
    _confirm_password(user=user, password=current_password, ip=ip)
    user.password_hash = hash_password(new_password)
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    token = open_session(session=session, user=user)
    session.commit()
    return token


def delete_account(*, session: Session, user: User, password: str, ip: str) -> None:
    """Anonymise rather than delete: the wallet, its ledger entries and top-ups keep pointing at
    this id, so the books stay balanced; what identifies the person goes. Sold avatars stay sold
    (their registry entries point at the avatar, not the person) and become ownerless, which is
    how certificates and the verify page tell that the owner left."""
    _confirm_password(user=user, password=password, ip=ip)
    avatars_service.disown_all(session=session, user_id=user.id)
    # Unique and not an address anyone can sign up with (.invalid is reserved), so the real
    # address is free for a new account.
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.display_name = DELETED_DISPLAY_NAME
    user.password_hash = _DELETED_PASSWORD_HASH
    user.role = "user"
    user.deleted_at = utcnow()
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    session.commit()


def register(*, session: Session, email: str, password: str, display_name: str) -> tuple[User, str]:
    """Sign up and log in, committed: the new user and their session token."""
    user = signup(session=session, email=email, password=password, display_name=display_name)
    token = open_session(session=session, user=user)
    session.commit()
    return user, token


def log_in(*, session: Session, email: str, password: str, ip: str, replacing: str | None = None) -> tuple[User, str]:
    """Check the password and open a session, committed. Whatever session this browser held
    (`replacing`, perhaps one planted by someone else) ends here."""
    user = authenticate(session=session, email=email, password=password, ip=ip)
    if replacing:
        close_session(session=session, token=replacing)
    token = open_session(session=session, user=user)
    session.commit()
    return user, token


def log_out(*, session: Session, token: str) -> None:
    close_session(session=session, token=token)
    session.commit()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _idle_since(now: datetime) -> datetime:
    """A session last seen at or before this has been idle too long."""
    return now - timedelta(days=get_settings().session_idle_days)


def open_session(*, session: Session, user: User) -> str:
    """A fresh random token on every log-in (never reuse one: session fixation)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    # Sessions only die when used after their time; sweep this account's dead ones here.
    session.execute(delete(AuthSession).where(
        AuthSession.user_id == user.id,
        or_(AuthSession.expires_at <= now, AuthSession.last_seen_at <= _idle_since(now)),
    ))
    session.add(AuthSession(
        token_hash=_token_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
        expires_at=now + timedelta(days=get_settings().session_max_age_days),
    ))
    return token


def get_user(*, session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def user_for_token(*, session: Session, token: str) -> User | None:
    row = session.get(AuthSession, _token_hash(token))
    now = utcnow()
    if row is None or row.expires_at <= now or row.last_seen_at <= _idle_since(now):
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        # In a transaction of its own: read-only requests never commit theirs.
        with session_scope() as own:
            own.execute(update(AuthSession).where(AuthSession.token_hash == row.token_hash).values(last_seen_at=now))
    return session.get(User, row.user_id)


def close_session(*, session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_hash == _token_hash(token)))


def update_profile(*, session: Session, user: User, locale: str | None = None, display_name: str | None = None) -> User:
    if locale is not None:
        user.locale = locale
    if display_name is not None:
        user.display_name = display_name.strip() or user.display_name
    session.commit()
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
