"""The support desk: finding a person (with their balance and avatars), their wallet as they see
it plus who adjusted what, and goodwill adjustments that a double click or a retry can never
grant twice.

Above accounts, billing and avatars, which it reads and writes only through their services: the
person from accounts.support, money from billing (service, idempotency), avatars' counts."""
from __future__ import annotations

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from effigies.accounts import addresses as accounts_addresses
from effigies.accounts import service as accounts_service
from effigies.accounts import support as accounts_support
from effigies.accounts.support import MAX_LIMIT, MAX_OFFSET, Account
from effigies.avatars import service as avatars_service
from effigies.billing import idempotency
from effigies.billing import service as billing_service
from effigies.billing.ledger import BillingError, format_eur
from effigies.billing.schemas import GOODWILL_LIMIT_CENTS, AdjustmentOut, TopUpOut
from effigies.support.schemas import SupportAddressOut, SupportLedgerLine, SupportWalletOut, UserSummaryOut

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "search_users", "user_summary", "wallet_for_support", "adjust"]

HISTORY_LINES = 200
TOPUPS = 50


@dataclass(frozen=True)
class SearchPage:
    items: list[UserSummaryOut]
    has_more: bool


@dataclass(frozen=True)
class AdjustmentResult:
    """The answer to an adjustment request; `replayed` when an Idempotency-Key returned a stored one."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def _summaries(*, session: Session, accounts: list[Account]) -> list[UserSummaryOut]:
    """Each account with its balance, avatar count and addresses: a few grouped reads for the page."""
    ids = [a.id for a in accounts]
    balances = billing_service.balances(session=session, user_ids=ids)
    counts = avatars_service.owned_counts(session=session, user_ids=ids)
    extra = accounts_addresses.addresses_of(session=session, user_ids=set(ids))
    linked = avatars_service.linked_addresses(
        session=session, emails=[a.email for a in accounts] + [x.email for rows in extra.values() for x in rows])

    def addresses(a: Account) -> list[SupportAddressOut]:
        own = [SupportAddressOut(email=a.email, extra=False, verified=True, linked=True)] if a.email in linked else []
        return own + [SupportAddressOut(email=x.email, extra=True, verified=x.verified_at is not None,
                                        linked=x.email in linked) for x in extra.get(a.id, [])]

    return [
        UserSummaryOut(**dataclasses.asdict(a), balance_cents=balances.get(a.id, 0), avatar_count=counts.get(a.id, 0),
                       addresses=addresses(a))
        for a in accounts
    ]


def search_users(*, session: Session, q: str, limit: int = 20, offset: int = 0) -> SearchPage:
    """Users whose e-mail contains `q`, or whose id is `q` (accounts.support.search_users)."""
    page = accounts_support.search_users(session=session, q=q, limit=limit, offset=offset)
    return SearchPage(items=_summaries(session=session, accounts=page.items), has_more=page.has_more)


def user_summary(*, session: Session, user_id: uuid.UUID) -> UserSummaryOut:
    return _summaries(session=session, accounts=[accounts_support.account(session=session, user_id=user_id)])[0]


def wallet_for_support(*, session: Session, user_id: uuid.UUID) -> SupportWalletOut:
    """Read-only: a user who never opened their wallet has none yet, and looking creates none."""
    user = user_summary(session=session, user_id=user_id)
    balance, lines, topups = billing_service.history(session=session, user_id=user_id, lines=HISTORY_LINES, topups=TOPUPS)
    admins = billing_service.adjustment_admins(session=session, entry_ids=[x.id for x in lines if x.kind == "adjustment"])
    emails = accounts_support.emails(session=session, user_ids=set(admins.values()))
    return SupportWalletOut(
        user=user,
        balance_cents=balance,
        entries=[
            SupportLedgerLine(**line.model_dump(), **(
                {"admin_id": admins[line.id], "admin_email": emails.get(admins[line.id])} if line.id in admins else {}
            ))
            for line in lines
        ],
        topups=[TopUpOut.model_validate(t) for t in topups],
    )


def adjust(
    *,
    session: Session,
    user_id: uuid.UUID,
    admin_id: uuid.UUID,
    amount_cents: int,
    reason: str,
    idempotency_key: str | None = None,
) -> AdjustmentResult:
    """A goodwill credit (or a correction), committed. With a key, the response is stored in the
    same transaction: the same key, however often and however concurrently it is sent, adjusts
    the wallet once and always gets the first answer."""
    if not 0 < abs(amount_cents) <= GOODWILL_LIMIT_CENTS:
        raise BillingError(
            "invalid_adjustment", f"An adjustment is between {format_eur(1)} and {format_eur(GOODWILL_LIMIT_CENTS)}, "
            "credit or debit.", status=422,
        )
    if idempotency_key is not None:
        replay = _claim(session=session, admin_id=admin_id, key=idempotency_key, user_id=user_id,
                        amount_cents=amount_cents, reason=reason)
        if replay is not None:
            session.commit()
            return replay
    _check_target(session=session, user_id=user_id, admin_id=admin_id)
    try:
        tx_id, balance = billing_service.adjust(
            session=session, user_id=user_id, amount_cents=amount_cents, reason=reason, admin_id=admin_id
        )
    except BillingError as exc:
        if exc.code != "insufficient_funds":
            raise
        # The ledger's own message speaks to the wallet's owner ("top up…"); this one to support.
        held = billing_service.balances(session=session, user_ids=[user_id]).get(user_id, 0)
        raise BillingError(
            "adjustment_exceeds_balance",
            f"This wallet holds {format_eur(held)}: a correction cannot take it below zero.",
            status=409,
        ) from None
    body = AdjustmentOut(transaction_id=tx_id, balance_cents=balance).model_dump(mode="json")
    if idempotency_key is not None:
        idempotency.record(session=session, user_id=admin_id, key=idempotency_key, status=201, body=body)
    session.commit()
    return AdjustmentResult(201, body)


def _claim(*, session: Session, admin_id: uuid.UUID, key: str, user_id: uuid.UUID, amount_cents: int,
           reason: str) -> AdjustmentResult | None:
    # The key holds what it was first used for: the same key for another user, amount or reason
    # is a client bug, refused rather than answered with the first adjustment.
    digest = hashlib.sha256(reason.encode()).hexdigest()[:32]
    try:
        replay = idempotency.claim(
            session=session, user_id=admin_id, key=key, request=f"adjustment:{user_id}:{amount_cents}:{digest}",
        )
    except BillingError as exc:
        if exc.code != "idempotency_key_reused":
            raise
        raise BillingError(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different adjustment (another user, amount or reason). "
            "Send a new key with each new adjustment.",
            status=422,
        ) from None
    return None if replay is None else AdjustmentResult(replay.status, replay.body, replayed=True)


def _check_target(*, session: Session, user_id: uuid.UUID, admin_id: uuid.UUID) -> None:
    user = accounts_service.get_user(session=session, user_id=user_id)
    if user is None:
        raise BillingError("user_not_found", "No such user.", status=404)
    if user.deleted_at is not None:
        raise BillingError("user_deleted", "This account was deleted: nobody can use its wallet any more.", status=409)
    if user.id == admin_id:
        # Money an admin grants goes to someone else: a second admin adjusts an admin's wallet.
        raise BillingError("own_wallet", "Administrators cannot adjust their own wallet.", status=403)
