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

from effigies.accounts import addresses, devices, passwords, throttle
from effigies.accounts.models import AccountToken, AuthSession, User
from effigies.avatars import service as avatars_service
from effigies.billing import service as billing_service
from effigies.billing.ledger import format_eur
from effigies.config import get_settings
from effigies.db import session_scope, utcnow
from effigies.errors import DomainError
from effigies.generation import service as generation_service
from effigies.mail import service as mail_service

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
# How long an e-mailed link works. A reset link is a password for a while, so it lives briefly;
# a verification link may wait in an inbox over a weekend.
VERIFY_TTL = timedelta(hours=48)
RESET_TTL = timedelta(minutes=30)
# Where the links lead: pages of the frontend (frontend/js/views/email-links.js). The token
# rides in the URL fragment, which browsers never send to a server nor put in a Referer.
VERIFY_PATH = "/#/email/verify"
RESET_PATH = "/#/password/reset"


class AccountsError(DomainError):
    pass


def normalise_email(email: str) -> str:
    """The one form an address is stored and looked up in: NFKC (so a fullwidth or other
    compatibility look-alike is the same account, not a second one), trimmed, lower-cased."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


MIN_PASSWORD_LENGTH = 10  # as the schemas say (effigies.accounts.schemas)
PASSWORD_REFUSED = {
    "password_personal": "Your password must not be your e-mail address or your name: choose another one.",
    "password_weak": "This password is too easy to guess. Use a few uncommon words, or a longer sentence.",
}


def password_strength(password: str, *, email: str | None, display_name: str | None) -> tuple[int, str | None]:
    """(zxcvbn score, why it would be refused or None): the strength meter's reading, the same
    verdict as check_new_password's (the length rule included)."""
    verdict = passwords.judge(password, email=email, display_name=display_name)
    if len(password) < MIN_PASSWORD_LENGTH:
        return min(verdict.score, 2), "password_short"
    return verdict.score, verdict.code


def check_new_password(password: str, *, email: str | None, display_name: str | None) -> None:
    """Refuses (422) a new password that is too easy to guess (effigies.accounts.passwords)."""
    verdict = passwords.judge(password, email=email, display_name=display_name)
    if not verdict.ok:
        raise AccountsError(verdict.code, PASSWORD_REFUSED[verdict.code], status=422)


def signup(*, session: Session, email: str, password: str, display_name: str, role: str = "user") -> User:
    check_new_password(password, email=email, display_name=display_name)
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


def authenticate(*, session: Session, email: str, password: str, ip: str, device: str | None = None) -> User:
    """`device`: this browser's ee_device cookie (effigies.accounts.devices); one issued for this
    address makes the attempt count against that device's budget, not the account's."""
    email = normalise_email(email)
    user = session.scalar(select(User).where(User.email == email, User.deleted_at.is_(None)))
    known = devices.known(device, email)
    budget = email if known is None else f"{email}\0device:{known}"
    if not _password_matches(user=user, account=budget, password=password, ip=ip):
        raise AccountsError("invalid_credentials", "Wrong e-mail or password.", status=401)
    if known is not None:
        throttle.forget(account=email)  # the owner is in: strangers' guesses so far are wiped
    return user


def _confirm_password(*, user: User, password: str, ip: str) -> None:
    """For changes that a stolen session alone must not be able to make."""
    if not _password_matches(user=user, account=user.email, password=password, ip=ip):
        raise AccountsError("wrong_password", "Your current password is not correct.", status=400)


def change_password(*, session: Session, user: User, current_password: str, new_password: str, ip: str) -> str:
    """Ends every session of the account (a thief's included), tells the address, and returns a
    fresh token for the caller."""
    _confirm_password(user=user, password=current_password, ip=ip)
    check_new_password(new_password, email=user.email, display_name=user.display_name)
    user.password_hash = hash_password(new_password)
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    token = open_session(session=session, user=user)
    _send_password_changed(user)
    session.commit()
    return token


def delete_account(*, session: Session, user: User, password: str, ip: str, forfeit_cents: int = 0) -> None:
    """Anonymise rather than delete: the wallet, its ledger entries and top-ups keep pointing at
    this id, so the books stay balanced; what identifies the person goes. Sold avatars stay sold
    (their registry entries point at the avatar, not the person) and become ownerless, which is
    how certificates and the verify page tell that the owner left."""
    _confirm_password(user=user, password=password, ip=ip)
    # Money left in the wallet is given up (it stays in the books, owned by nobody): only when the
    # person confirmed that very amount, so a top-up landing meanwhile is never lost unseen.
    balance = billing_service.balances(session=session, user_ids=[user.id]).get(user.id, 0)
    if balance != forfeit_cents:
        raise AccountsError(
            "balance_not_confirmed",
            f"Your wallet holds {format_eur(balance)}; deleting the account gives it up. Confirm that amount to go on.",
            status=409,
        )
    avatars_service.disown_all(session=session, user_id=user.id)
    addresses.forget_all(session=session, user_id=user.id)
    # Unique and not an address anyone can sign up with (.invalid is reserved), so the real
    # address is free for a new account.
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.display_name = DELETED_DISPLAY_NAME
    user.password_hash = _DELETED_PASSWORD_HASH
    user.role = "user"
    user.deleted_at = utcnow()
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    session.commit()


def log_in(
    *, session: Session, email: str, password: str, ip: str, replacing: str | None = None, visitor: str | None = None,
    device: str | None = None,
) -> tuple[User, str]:
    """Check the password and open a session, committed. Whatever session this browser held
    (`replacing`, perhaps one planted by someone else) ends here; the unexpired proposals of its
    visitor id (`visitor`, tried before logging in) become the account's."""
    user = authenticate(session=session, email=email, password=password, ip=ip, device=device)
    if replacing:
        close_session(session=session, token=replacing)
    token = open_session(session=session, user=user)
    generation_service.adopt_visitor(session=session, visitor=visitor, user_id=user.id)
    session.commit()
    return user, token


def log_out(*, session: Session, token: str) -> None:
    close_session(session=session, token=token)
    session.commit()


def token_hash(token: str) -> str:
    """What is stored of a session or link token: its SHA-256 (the token itself is the secret)."""
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
        token_hash=token_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
        expires_at=now + timedelta(days=get_settings().session_max_age_days),
    ))
    return token


def sessions_of(*, session: Session, user_id: uuid.UUID) -> list[AuthSession]:
    """The account's log-in sessions, newest first (their data export lists when, never tokens)."""
    return list(session.scalars(select(AuthSession).where(AuthSession.user_id == user_id)
                                .order_by(AuthSession.created_at.desc())))


def get_user(*, session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def user_for_token(*, session: Session, token: str) -> User | None:
    row = session.get(AuthSession, token_hash(token))
    now = utcnow()
    if row is None or row.expires_at <= now or row.last_seen_at <= _idle_since(now):
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        # In a transaction of its own: read-only requests never commit theirs.
        with session_scope() as own:
            own.execute(update(AuthSession).where(AuthSession.token_hash == row.token_hash).values(last_seen_at=now))
    return session.get(User, row.user_id)


def close_session(*, session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_hash == token_hash(token)))


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
        user = signup(session=session, email=email, password=password, display_name="Admin", role="admin")
        user.email_verified_at = utcnow()  # the operator chose this address
        return user
    user.role = "admin"
    user.email_verified_at = user.email_verified_at or utcnow()  # the operator chose this address
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        check_new_password(password, email=user.email, display_name=user.display_name)
        user.password_hash = hash_password(password)
    return user


# --------------------------------------------------------------------------- e-mailed links


def _new_link_token(*, session: Session, user: User, purpose: str, email: str, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(AccountToken(token_hash=token_hash(token), user_id=user.id, purpose=purpose, email=email,
                             created_at=now, expires_at=now + ttl))
    return token


def _link(path: str, token: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}{path}?token={token}"


def _send_verification(*, session: Session, user: User, email: str, template: str) -> None:
    token = _new_link_token(session=session, user=user, purpose="verify_email", email=email, ttl=VERIFY_TTL)
    mail_service.send(to=email, template=template, locale=user.locale, name=user.display_name,
                      link=_link(VERIFY_PATH, token))


def _send_password_changed(user: User) -> None:
    mail_service.send(to=user.email, template="password_changed", locale=user.locale, name=user.display_name)


def _take_token(*, session: Session, token: str, purpose: str) -> tuple[AccountToken, User]:
    """The unused, unexpired token of this purpose and its live account, locked; else 400 saying
    which (unknown or meant for another page, already used, expired), with nothing changed."""
    row = session.scalar(select(AccountToken).where(AccountToken.token_hash == token_hash(token)).with_for_update())
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or row.purpose != purpose or user is None or user.deleted_at is not None:
        raise AccountsError("invalid_token", "This link is not valid. Ask for a new one.", status=400)
    if row.used_at is not None:
        raise AccountsError("token_used", "This link was already used. Ask for a new one if you need it.", status=400)
    if row.expires_at <= utcnow():
        raise AccountsError("token_expired", "This link has expired. Ask for a new one.", status=400)
    return row, user


def _spend_tokens(*, session: Session, user_id: uuid.UUID, purpose: str) -> None:
    """Every outstanding link of this kind stops working (the one used included)."""
    session.execute(update(AccountToken).where(
        AccountToken.user_id == user_id, AccountToken.purpose == purpose, AccountToken.used_at.is_(None),
    ).values(used_at=utcnow()))


def resend_verification(*, session: Session, user: User) -> None:
    if user.email_verified_at is not None:
        raise AccountsError("already_verified", "Your e-mail address is already confirmed.", status=409)
    _send_verification(session=session, user=user, email=user.email, template="verify_email")
    session.commit()


def verify_email(*, session: Session, token: str) -> User:
    """Confirm the address a verification link was sent to; for a change of address, the account
    takes the new address now (409 if another account took it meanwhile). Committed."""
    row, user = _take_token(session=session, token=token, purpose="verify_email")
    if row.email != user.email:
        # The old address stops showing an avatar at /avatar/{hash}: it is no longer this account's
        # (its extra addresses keep theirs).
        avatars_service.forget_email_links(session=session, user_id=user.id, emails=[user.email])
        user.email = row.email
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise AccountsError("email_taken", "Another account now uses this e-mail address.", status=409) from None
    user.email_verified_at = utcnow()
    addresses.primary_confirmed(session=session, user=user)
    _spend_tokens(session=session, user_id=user.id, purpose="verify_email")
    session.commit()
    return user


def request_email_change(*, session: Session, user: User, new_email: str, password: str, ip: str) -> None:
    """Send a confirmation link to the new address (the account keeps the old one until it is
    opened) and a notice to the old one. Committed."""
    _confirm_password(user=user, password=password, ip=ip)
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise AccountsError("same_email", "This is already your e-mail address.", status=400)
    if session.scalar(select(User.id).where(User.email == new_email)) is not None:
        # The same answer as for a free address (no oracle of who has an account): that address
        # is told, with no link, and the account keeps its own.
        mail_service.send(to=new_email, template="email_change_taken", locale=user.locale)
    else:
        _send_verification(session=session, user=user, email=new_email, template="confirm_new_email")
    mail_service.send(to=user.email, template="email_change_notice", locale=user.locale, name=user.display_name,
                      new_email=new_email)
    session.commit()


def request_password_reset(*, session: Session, email: str, locale: str) -> None:
    """Mail a reset link to the account of this address, or, when there is none, a message saying
    so: either way one e-mail is sent and the caller's answer is the same (no enumeration)."""
    email = normalise_email(email)
    user = session.scalar(select(User).where(User.email == email, User.deleted_at.is_(None)))
    if user is None:
        mail_service.send(to=email, template="reset_no_account", locale=locale)
        return
    token = _new_link_token(session=session, user=user, purpose="reset_password", email=email, ttl=RESET_TTL)
    mail_service.send(to=email, template="reset_password", locale=user.locale, name=user.display_name,
                      link=_link(RESET_PATH, token))
    session.commit()


def reset_password(*, session: Session, token: str, new_password: str) -> User:
    """Set the new password from a reset link: every session of the account ends (whoever held
    one must log in with the new password), every other reset link dies, the address counts as
    verified (the link reached it) and is told. Committed."""
    row, user = _take_token(session=session, token=token, purpose="reset_password")
    check_new_password(new_password, email=user.email, display_name=user.display_name)
    user.password_hash = hash_password(new_password)
    if row.email == user.email and user.email_verified_at is None:
        user.email_verified_at = utcnow()
        addresses.primary_confirmed(session=session, user=user)
    _spend_tokens(session=session, user_id=user.id, purpose="reset_password")
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    _send_password_changed(user)
    session.commit()
    throttle.forget(account=user.email)  # the link reached the owner: whatever locked the account ends
    return user
