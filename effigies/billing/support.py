"""Support's side of a wallet: the history as its owner sees it (plus who adjusted what), and
goodwill adjustments that a double click or a retry can never grant twice."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from effigies.accounts import support as accounts_support
from effigies.accounts.admin_schemas import UserSummaryOut
from effigies.accounts.models import User
from effigies.billing import idempotency
from effigies.billing import service as billing_service
from effigies.billing.ledger import BillingError, format_eur
from effigies.billing.models import LedgerAccount, LedgerEntry, LedgerTransaction, TopUp
from effigies.billing.schemas import (
    GOODWILL_LIMIT_CENTS,
    AdjustmentOut,
    SupportLedgerLine,
    SupportWalletOut,
    TopUpOut,
)
from effigies.billing.wallet_lines import wallet_lines

HISTORY_LINES = 200
TOPUPS = 50


@dataclass(frozen=True)
class AdjustmentResult:
    """The answer to an adjustment request; `replayed` when an Idempotency-Key returned a stored one."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def wallet_for_support(*, session: Session, user_id: uuid.UUID) -> SupportWalletOut:
    """Read-only: a user who never opened their wallet has none yet, and looking creates none."""
    user = accounts_support.user_summary(session=session, user_id=user_id)
    account = session.scalar(select(LedgerAccount).where(LedgerAccount.user_id == user_id))
    lines = wallet_lines(session=session, account_id=account.id, limit=HISTORY_LINES) if account else []
    admins = _adjustment_admins(session=session, entry_ids=[line.id for line in lines if line.kind == "adjustment"])
    topups = session.scalars(
        select(TopUp).where(TopUp.user_id == user_id).order_by(TopUp.created_at.desc()).limit(TOPUPS)
    ).all()
    return SupportWalletOut(
        user=UserSummaryOut.model_validate(user),
        balance_cents=account.balance_cents if account else 0,
        entries=[SupportLedgerLine(**line.model_dump(), **admins.get(line.id, {})) for line in lines],
        topups=[TopUpOut.model_validate(t) for t in topups],
    )


def _adjustment_admins(*, session: Session, entry_ids: list[int]) -> dict[int, dict[str, Any]]:
    """entry id → the admin who made that adjustment (id, and address if the account still exists)."""
    if not entry_ids:
        return {}
    rows = session.execute(
        select(LedgerEntry.id, LedgerTransaction.details["admin_id"].astext)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.id.in_(entry_ids))
    ).all()
    by_entry = {entry_id: _uuid(admin_id) for entry_id, admin_id in rows}
    wanted = {a for a in by_entry.values() if a is not None}
    emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(wanted))).all()) if wanted else {}
    return {
        entry_id: {"admin_id": admin_id, "admin_email": emails.get(admin_id)}
        for entry_id, admin_id in by_entry.items()
        if admin_id is not None
    }


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def adjust(
    *,
    session: Session,
    user_id: uuid.UUID,
    admin_id: uuid.UUID,
    amount_cents: int,
    reason: str,
    idempotency_key: str | None = None,
) -> AdjustmentResult:
    """A goodwill credit (or a correction) in the caller's one transaction. With a key, the
    response is stored in that same transaction: the same key, however often and however
    concurrently it is sent, adjusts the wallet once and always gets the first answer."""
    if not 0 < abs(amount_cents) <= GOODWILL_LIMIT_CENTS:
        raise BillingError(
            "invalid_adjustment", f"An adjustment is between {format_eur(1)} and {format_eur(GOODWILL_LIMIT_CENTS)}, "
            "credit or debit.", status=422,
        )
    if idempotency_key is not None:
        # The key holds what it was first used for: the same key for another user, amount or
        # reason is a client bug, refused rather than answered with the first adjustment.
        digest = hashlib.sha256(reason.encode()).hexdigest()[:32]
        try:
            replay = idempotency.claim(
                session=session, user_id=admin_id, key=idempotency_key,
                request=f"adjustment:{user_id}:{amount_cents}:{digest}",
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
        if replay is not None:
            return AdjustmentResult(replay.status, replay.body, replayed=True)
    _check_target(session=session, user_id=user_id, admin_id=admin_id)
    try:
        tx_id, balance = billing_service.adjust(
            session=session, user_id=user_id, amount_cents=amount_cents, reason=reason, admin_id=admin_id
        )
    except BillingError as exc:
        if exc.code != "insufficient_funds":
            raise
        # The ledger's own message speaks to the wallet's owner ("top up…"); this one to support.
        held = session.scalar(select(LedgerAccount.balance_cents).where(LedgerAccount.user_id == user_id))
        raise BillingError(
            "adjustment_exceeds_balance",
            f"This wallet holds {format_eur(held or 0)}: a correction cannot take it below zero.",
            status=409,
        ) from None
    body = AdjustmentOut(transaction_id=tx_id, balance_cents=balance).model_dump(mode="json")
    if idempotency_key is not None:
        idempotency.record(session=session, user_id=admin_id, key=idempotency_key, status=201, body=body)
    return AdjustmentResult(201, body)


def _check_target(*, session: Session, user_id: uuid.UUID, admin_id: uuid.UUID) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise BillingError("user_not_found", "No such user.", status=404)
    if user.deleted_at is not None:
        raise BillingError("user_deleted", "This account was deleted: nobody can use its wallet any more.", status=409)
    if user.id == admin_id:
        # Money an admin grants goes to someone else: a second admin adjusts an admin's wallet.
        raise BillingError("own_wallet", "Administrators cannot adjust their own wallet.", status=403)
