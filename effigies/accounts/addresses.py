"""An account's extra e-mail addresses: added, verified by a link mailed to them, removed.

They exist for /avatar/{hash} (effigies.avatars.public): an owner links any verified address of
theirs — the account's own or one of these — to one of their avatars. The rules:

- at most MAX_ADDRESSES per account, the account's own address not counted, nor twice the same;
- an address another account uses (as its own, or as a verified extra) cannot be confirmed:
  adding it answers as for any address, but the mail it gets is a notice with no link, so the
  answer never tells which addresses have an account; a verified address is one account's only (also a partial unique index, for two confirmations at
  once). An account that confirms as its *own* an address someone else had as a verified extra
  takes it over, with its avatar link (primary_confirmed): the latest proof of the mailbox wins;
- a pending address shows nothing and cannot be linked; its link (48 hours, single use, only its
  SHA-256 kept) is replaced by a new one on request;
- removing an address removes its avatar link in the same transaction, as does deleting the
  account (forget_all).
"""
from __future__ import annotations

import hashlib
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from effigies.accounts.models import AccountAddress, User
from effigies.avatars import service as avatars_service
from effigies.config import get_settings
from effigies.db import utcnow
from effigies.errors import DomainError
from effigies.mail import service as mail_service

MAX_ADDRESSES = 5
VERIFY_TTL = timedelta(hours=48)  # as the account address's verification link
# The page the link opens (frontend/js/views/address-verify.js); the token rides in the fragment.
VERIFY_PATH = "/#/email/address"


class AddressesError(DomainError):
    pass


def _normalise(email: str) -> str:
    # As effigies.accounts.service.normalise_email (which imports this module, so not from there).
    return unicodedata.normalize("NFKC", email).strip().lower()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def list_addresses(*, session: Session, user_id: uuid.UUID) -> list[AccountAddress]:
    """The account's extra addresses, oldest first."""
    return list(session.scalars(select(AccountAddress).where(AccountAddress.user_id == user_id)
                                .order_by(AccountAddress.created_at, AccountAddress.id)))


def addresses_of(*, session: Session, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[AccountAddress]]:
    """Each of these accounts' extra addresses (the support desk's, for admins only)."""
    if not user_ids:
        return {}
    found: dict[uuid.UUID, list[AccountAddress]] = {}
    for row in session.scalars(select(AccountAddress).where(AccountAddress.user_id.in_(user_ids))
                               .order_by(AccountAddress.created_at, AccountAddress.id)):
        found.setdefault(row.user_id, []).append(row)
    return found


def _taken_elsewhere(*, session: Session, user_id: uuid.UUID, email: str) -> bool:
    """Another account's own address, or another account's verified extra one."""
    own = session.scalar(select(User.id).where(User.email == email, User.id != user_id))
    extra = session.scalar(select(AccountAddress.id).where(
        AccountAddress.email == email, AccountAddress.user_id != user_id, AccountAddress.verified_at.is_not(None)))
    return own is not None or extra is not None


def _taken() -> AddressesError:
    return AddressesError("email_taken", "Another account already uses this e-mail address.", status=409)


def _send_link(*, session: Session, user: User, row: AccountAddress, budget: Callable[[str], None] | None) -> None:
    """The address's confirmation link; or, when another account uses it, a notice to it with no
    link: the caller's answer is the same either way, so adding addresses tells nobody which
    ones have an account (as sign-up does not, effigies.accounts.signups)."""
    if budget is not None:
        budget(row.email)  # the mail rate limits (the router's), counted only for a mail that goes
    if _taken_elsewhere(session=session, user_id=user.id, email=row.email):
        row.token_hash, row.token_expires_at = None, None  # stays pending: it never answers for them
        session.flush()
        mail_service.send(to=row.email, template="address_taken_notice", locale=user.locale)
        return
    token = secrets.token_urlsafe(32)
    row.token_hash, row.token_expires_at = _token_hash(token), utcnow() + VERIFY_TTL
    session.flush()
    link = f"{get_settings().public_url.rstrip('/')}{VERIFY_PATH}?token={token}"
    mail_service.send(to=row.email, template="verify_address", locale=user.locale, name=user.display_name, link=link)


def add_address(*, session: Session, user: User, email: str,
                budget: Callable[[str], None] | None = None) -> AccountAddress:
    """A pending address, its verification link mailed to it. Committed (nothing is kept when the
    mail cannot be sent: 503, effigies.mail). `budget(address)` is called just before the mail
    goes (and raises to refuse it): a refused request spends no mail budget."""
    email = _normalise(email)
    if email == user.email:
        raise AddressesError("same_email", "This is already your account's address.", status=409)
    mine = list_addresses(session=session, user_id=user.id)
    if any(row.email == email for row in mine):
        raise AddressesError("address_exists", "You have already added this address.", status=409)
    if len(mine) >= MAX_ADDRESSES:
        raise AddressesError("too_many_addresses",
                             f"An account has at most {MAX_ADDRESSES} extra addresses: remove one first.", status=409)
    row = AccountAddress(id=uuid.uuid4(), user_id=user.id, email=email, created_at=utcnow())
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the same address added twice at once
        raise AddressesError("address_exists", "You have already added this address.", status=409) from None
    _send_link(session=session, user=user, row=row, budget=budget)
    session.commit()
    return row


def _mine(*, session: Session, user_id: uuid.UUID, address_id: uuid.UUID, lock: bool = False) -> AccountAddress:
    query = select(AccountAddress).where(AccountAddress.id == address_id, AccountAddress.user_id == user_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:  # someone else's or nobody's: the same answer
        raise AddressesError("address_not_found", "You have no extra address with this id.", status=404)
    return row


def get_address(*, session: Session, user_id: uuid.UUID, address_id: uuid.UUID) -> AccountAddress:
    return _mine(session=session, user_id=user_id, address_id=address_id)


def resend(*, session: Session, user: User, address_id: uuid.UUID,
           budget: Callable[[str], None] | None = None) -> AccountAddress:
    """A new link for a pending address (the previous one stops working). Committed."""
    row = _mine(session=session, user_id=user.id, address_id=address_id, lock=True)
    if row.verified_at is not None:
        raise AddressesError("already_verified", "This address is already confirmed.", status=409)
    _send_link(session=session, user=user, row=row, budget=budget)
    session.commit()
    return row


def verify(*, session: Session, token: str) -> AccountAddress:
    """Confirm the address a link was mailed to (logged in or not, like the account's own).
    400 for a link that is unknown, used or expired; 409 when another account took the address
    meanwhile. Committed."""
    row = session.scalar(select(AccountAddress).where(AccountAddress.token_hash == _token_hash(token))
                         .with_for_update())
    if row is None:
        raise AddressesError("invalid_token", "This link is not valid. Ask for a new one.", status=400)
    if row.verified_at is not None:
        raise AddressesError("token_used", "This link was already used. Ask for a new one if you need it.", status=400)
    if row.token_expires_at is None or row.token_expires_at <= utcnow():
        raise AddressesError("token_expired", "This link has expired. Ask for a new one.", status=400)
    if _taken_elsewhere(session=session, user_id=row.user_id, email=row.email):
        raise _taken()
    row.verified_at = utcnow()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # another account confirmed it at the same instant
        raise _taken() from None
    session.commit()
    return row


def verified_email(*, session: Session, user_id: uuid.UUID, address_id: uuid.UUID) -> str:
    """The address, for linking it to an avatar: the caller's (404) and verified (409)."""
    row = _mine(session=session, user_id=user_id, address_id=address_id)
    if row.verified_at is None:
        raise AddressesError("email_not_verified",
                             "Confirm this address first (the link we sent to it), then link it.", status=409)
    return row.email


def remove(*, session: Session, user_id: uuid.UUID, address_id: uuid.UUID) -> None:
    """The address goes, and with it the avatar it showed (from the next request on). Committed."""
    row = _mine(session=session, user_id=user_id, address_id=address_id, lock=True)
    avatars_service.forget_email_links(session=session, user_id=user_id, emails=[row.email])
    session.delete(row)
    session.commit()


def primary_confirmed(*, session: Session, user: User) -> None:
    """The account has just proved its own address (a verification or reset link reached it),
    in the caller's transaction: the same address as an extra one of theirs is redundant (its
    link stays: same hashes, same account), and another account's extra copy of it goes, with
    its avatar link (the latest proof wins)."""
    rows = session.scalars(select(AccountAddress).where(AccountAddress.email == user.email)).all()
    for row in rows:
        if row.user_id != user.id:
            if row.verified_at is None:
                continue  # someone's pending copy: its link will be refused (email_taken)
            avatars_service.forget_email_links(session=session, user_id=row.user_id, emails=[row.email])
        session.delete(row)
    session.flush()


def forget_all(*, session: Session, user_id: uuid.UUID) -> None:
    """The account is being deleted (accounts.service.delete_account, same transaction; its avatar
    links go with avatars_service.disown_all)."""
    session.execute(delete(AccountAddress).where(AccountAddress.user_id == user_id))
