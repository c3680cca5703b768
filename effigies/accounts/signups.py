"""Sign-up by e-mailed link: the answer never says whether an address already has an account.

``request_signup`` answers the same to everybody (the router: 202 "check your inbox") and sends
exactly one e-mail either way:
- an address with no account gets a link; the account is created, verified and logged in when
  the link is opened (``confirm_signup``), from the request kept in ``signup_requests``;
- an address that has one gets a notice ("you already have an account: log in, or reset your
  password"), and nothing changes.
Both paths check the password by the same rule, hash it once (argon2id) and send one message,
so they also take the same time within noise. The price is one step more for a newcomer: the
link. A visitor's proposals wait for it (they move to the account when it is opened, even in
another browser, through the visitor id's hash kept with the request).
"""
from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from effigies.accounts import addresses, service
from effigies.accounts.models import SignupRequest, User
from effigies.config import get_settings
from effigies.db import utcnow
from effigies.generation import service as generation_service
from effigies.mail import service as mail_service

# Like a verification link: it may wait in an inbox over a weekend.
SIGNUP_TTL = timedelta(hours=48)
CONFIRM_PATH = "/#/signup/confirm"
# Where the link leads once the account exists: an in-app path only (the page says the same).
NEXT_RE = re.compile(r"^/[A-Za-z0-9_\-/]{0,200}$")


def _link(token: str, next_path: str | None) -> str:
    link = f"{get_settings().public_url.rstrip('/')}{CONFIRM_PATH}?token={token}"
    if next_path and NEXT_RE.fullmatch(next_path) and next_path != "/":
        link += "&next=" + next_path.replace("/", "%2F")
    return link


def request_signup(
    *, session: Session, email: str, password: str, display_name: str, locale: str = "fr",
    visitor: str | None = None, next_path: str | None = None,
) -> None:
    """Keep the sign-up and mail its link, or tell the address's account it exists. Committed;
    nothing is kept when the e-mail cannot be sent (MailError, 503)."""
    email = service.normalise_email(email)
    service.check_new_password(password, email=email, display_name=display_name)
    password_hash = service.hash_password(password)  # on both paths: the same work, the same time
    existing = session.scalar(select(User).where(User.email == email, User.deleted_at.is_(None)))
    if existing is not None:
        mail_service.send(to=email, template="signup_existing", locale=existing.locale, name=existing.display_name)
        return
    now = utcnow()
    session.execute(delete(SignupRequest).where(SignupRequest.expires_at <= now - SIGNUP_TTL))
    token = secrets.token_urlsafe(32)
    session.add(SignupRequest(
        token_hash=service.token_hash(token), email=email, password_hash=password_hash, display_name=display_name,
        locale=locale, visitor_key=generation_service.visitor_key(visitor)
        if generation_service.valid_visitor_id(visitor) else None,
        created_at=now, expires_at=now + SIGNUP_TTL,
    ))
    session.flush()
    mail_service.send(to=email, template="signup_confirm", locale=locale, name=display_name,
                      link=_link(token, next_path))
    session.commit()


def confirm_signup(*, session: Session, token: str, visitor: str | None = None) -> tuple[User, str]:
    """Open a sign-up link: the account is created with the address verified (the link reached
    it), logged in, and given the proposals of the visitor who signed up and of this browser's
    (``visitor``). Committed; returns the user and the session token. 400 for a link that is
    unknown, used or expired; 409 ``account_exists`` when the address got an account meanwhile
    (another sign-up link opened first): nothing is changed then but the link's use."""
    digest = service.token_hash(token)
    email = session.scalar(select(SignupRequest.email).where(SignupRequest.token_hash == digest))
    # Every waiting sign-up of the address, locked in one order: two of its links opened at once
    # queue here (the second then finds its link spent) instead of deadlocking on each other's.
    rows = session.scalars(select(SignupRequest).where(SignupRequest.email == email)
                           .order_by(SignupRequest.token_hash).with_for_update()).all() if email else []
    row = next((r for r in rows if r.token_hash == digest), None)
    if row is None:
        raise service.AccountsError("invalid_token", "This link is not valid. Sign up again.", status=400)
    if row.used_at is not None:
        raise service.AccountsError("token_used", "This link was already used: log in.", status=400)
    if row.expires_at <= utcnow():
        raise service.AccountsError("token_expired", "This link has expired. Sign up again.", status=400)
    now = utcnow()
    for other in rows:  # every link of this address stops working: there is one account, this one
        if other.used_at is None:
            other.used_at = now
    user = User(email=row.email, password_hash=row.password_hash, display_name=row.display_name, role="user",
                locale=row.locale, email_verified_at=now)
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        session.commit()  # the links are spent all the same
        raise service.AccountsError("account_exists", "This address already has an account: log in.",
                                    status=409) from None
    # An extra address another account had confirmed is this account's own now: theirs goes.
    addresses.primary_confirmed(session=session, user=user)
    session_token = service.open_session(session=session, user=user)
    if row.visitor_key:
        generation_service.adopt_visitor_key(session=session, key=row.visitor_key, user_id=user.id)
    generation_service.adopt_visitor(session=session, visitor=visitor, user_id=user.id)
    session.commit()
    return user, session_token
