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
