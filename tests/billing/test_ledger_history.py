"""The ledger's history cannot be edited, by the application or anyone else with a connection."""
import pytest


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entries SET amount_cents = amount_cents + 100",
    "DELETE FROM ledger_entries",
    "UPDATE ledger_transactions SET kind = kind",
    "DELETE FROM ledger_transactions",
    "TRUNCATE ledger_entries CASCADE",
])
def test_ledger_rows_are_append_only(make_user, statement):
    import psycopg

    from effigies.config import get_settings

    make_user(balance_cents=250)  # a goodwill credit: one transaction, two entries
    with psycopg.connect(get_settings().database_url) as conn:
        before = conn.execute("SELECT count(*), sum(amount_cents) FROM ledger_entries").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        conn.rollback()
        assert conn.execute("SELECT count(*), sum(amount_cents) FROM ledger_entries").fetchone() == before


def test_concurrent_first_uses_of_a_system_account_create_one_row(stack):
    """On a fresh database the revenue account does not exist yet: eight purchases' transactions
    asking for it at once must all get the same row (else money would be split across two)."""
    import threading

    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    from effigies.billing.ledger import system_account
    from effigies.billing.models import LedgerAccount
    from tests.conftest import fresh_database

    with fresh_database(stack, pool_size=8) as engine:
        barrier, ids, errors = threading.Barrier(8), [], []

        def first_use() -> None:
            try:
                with Session(engine) as session, session.begin():
                    barrier.wait(10)
                    ids.append(system_account(session=session, kind="revenue").id)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(ids) == 8 and len(set(ids)) == 1
        with Session(engine) as session:
            count = session.scalar(select(func.count()).select_from(LedgerAccount).where(LedgerAccount.kind == "revenue"))
            assert count == 1
            session.add(LedgerAccount(kind="revenue"))
            with pytest.raises(IntegrityError):  # and the database itself refuses a second one
                session.flush()
