"""Double-entry postings. Every movement is one transaction whose entries sum to zero."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from effigies.billing.models import LedgerAccount, LedgerEntry, LedgerTransaction
from effigies.config import get_settings
from effigies.errors import DomainError


class BillingError(DomainError):
    pass


@dataclass(frozen=True)
class Posting:
    account_id: uuid.UUID
    amount_cents: int


def system_account(*, session: Session, kind: str) -> LedgerAccount:
    """The one account of this kind (revenue, goodwill…), created on first use; concurrent first
    uses create one row (a unique index per kind among accounts without a user)."""
    is_system = LedgerAccount.user_id.is_(None)
    account = session.scalar(select(LedgerAccount).where(LedgerAccount.kind == kind, is_system))
    if account is None:
        session.execute(
            insert(LedgerAccount)
            .values(id=uuid.uuid4(), kind=kind, balance_cents=0)
            .on_conflict_do_nothing(index_elements=["kind"], index_where=is_system)
        )
        account = session.scalar(select(LedgerAccount).where(LedgerAccount.kind == kind, is_system))
    return account


def wallet(*, session: Session, user_id: uuid.UUID) -> LedgerAccount:
    """The user's wallet, created on first use (concurrent first uses create one row)."""
    session.execute(
        insert(LedgerAccount)
        .values(id=uuid.uuid4(), kind="user_wallet", user_id=user_id, balance_cents=0)
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    return session.scalar(select(LedgerAccount).where(LedgerAccount.user_id == user_id))


def lock_accounts(*, session: Session, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, LedgerAccount]:
    """Row-lock accounts in id order, so two postings never deadlock each other."""
    rows = session.scalars(
        select(LedgerAccount)
        .where(LedgerAccount.id.in_(account_ids))
        .order_by(LedgerAccount.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in rows}


def format_eur(cents: int) -> str:
    """€1.50, for messages in English (the frontend formats amounts for its own locale)."""
    return f"{'-' if cents < 0 else ''}€{abs(cents) / 100:.2f}"


def post(
    *,
    session: Session,
    kind: str,
    reference: str,
    description: str,
    postings: list[Posting],
    details: dict[str, Any] | None = None,
) -> LedgerTransaction | None:
    """Write one balanced transaction. Returns None if `reference` was already posted (idempotent).
    `details` names what the movement is about (ids, a reason), for the wallet page."""
    if sum(p.amount_cents for p in postings) != 0:
        raise ValueError("unbalanced ledger transaction")
    inserted = session.execute(
        insert(LedgerTransaction)
        .values(id=uuid.uuid4(), kind=kind, reference=reference, description=description, details=details or {})
        .on_conflict_do_nothing(index_elements=["reference"])
        .returning(LedgerTransaction.id)
    ).scalar_one_or_none()
    if inserted is None:
        return None
    accounts = lock_accounts(session=session, account_ids=[p.account_id for p in postings])
    for p in postings:
        account = accounts[p.account_id]
        if account.kind == "user_wallet" and account.balance_cents + p.amount_cents < 0:
            # Checked on the locked row, so the balance quoted is the one that decided.
            raise BillingError(
                "insufficient_funds",
                f"Your wallet holds {format_eur(account.balance_cents)}, which is not enough for "
                f"{format_eur(-p.amount_cents)}. Top up your wallet (packs from {format_eur(min(get_settings().topup_packs_cents))}), "
                "then try again.",
                status=402,
            )
        account.balance_cents += p.amount_cents
        session.add(LedgerEntry(transaction_id=inserted, account_id=account.id, amount_cents=p.amount_cents))
    session.flush()
    return session.get(LedgerTransaction, inserted)
