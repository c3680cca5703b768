"""Candidates to buy and the state a purchase changes, for the purchase tests."""
from __future__ import annotations

from tests.conftest import wait_generation


def candidates(user, count=2, slug="galactic-droids"):
    job = user.post(f"/api/themes/{slug}/generations", json={"count": count}).json()
    body = wait_generation(user, job["id"])
    assert body["status"] == "done", body
    assert len(body["candidates"]) == count, body
    return body["candidates"]


def state(user_id):
    """(wallet balance, avatars owned, registry size)."""
    from sqlalchemy import func, select

    from effigies.avatars.models import Avatar
    from effigies.billing.ledger import wallet
    from effigies.db import session_scope
    from effigies.uniqueness.models import RegistryEntry

    with session_scope() as session:
        return (
            wallet(session=session, user_id=user_id).balance_cents,
            session.scalar(select(func.count()).select_from(Avatar).where(Avatar.owner_id == user_id)),
            session.scalar(select(func.count()).select_from(RegistryEntry)),
        )


def assert_ledger_balanced():
    """Double entry holds: every transaction sums to zero, every account's balance is the sum of
    its entries, and so all balances together sum to zero."""
    from sqlalchemy import text

    from effigies.db import session_scope

    with session_scope() as session:
        unbalanced = session.execute(text(
            "SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING sum(amount_cents) <> 0"
        )).all()
        drifted = session.execute(text(
            "SELECT a.id FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id "
            "GROUP BY a.id HAVING a.balance_cents <> coalesce(sum(e.amount_cents), 0)"
        )).all()
        total = session.scalar(text("SELECT coalesce(sum(balance_cents), 0) FROM ledger_accounts"))
    assert (unbalanced, drifted, total) == ([], [], 0)


def purchase_count(candidate_id) -> tuple[int, int]:
    """(avatars made from the candidate, ledger transactions charging for it)."""
    from sqlalchemy import func, select

    from effigies.avatars.models import Avatar
    from effigies.billing.models import LedgerTransaction
    from effigies.db import session_scope

    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(Avatar).where(Avatar.candidate_id == candidate_id)),
            session.scalar(
                select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.reference == f"purchase:{candidate_id}")
            ),
        )
