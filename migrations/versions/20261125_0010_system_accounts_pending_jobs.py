"""One system ledger account per kind; a partial index for the sweep of pending generation jobs

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 16:30:00

System accounts (revenue, stripe_clearing, goodwill) are created on first use. Without a
constraint, two first uses at the same moment on a fresh database could each create one, and
money would then be split across two rows of the same account: the database now allows one row
per kind, and the code inserts with ON CONFLICT DO NOTHING like wallets.

The beat's sweep (effigies.generation.service.recover_jobs) looks for jobs still queued or
running, every minute: a partial index holds just those few rows, instead of a scan of every
job ever made.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    duplicated = op.get_bind().execute(sa.text(
        "SELECT kind FROM ledger_accounts WHERE user_id IS NULL GROUP BY kind HAVING count(*) > 1"
    )).scalars().all()
    if duplicated:
        # Their entries cannot be moved (the ledger is append-only): a person must decide.
        raise RuntimeError(f"several system ledger accounts of kind {', '.join(duplicated)}: merge them by hand "
                           "(a balancing transaction, then repoint nothing) before upgrading")
    op.create_index('uq_ledger_accounts_system_kind', 'ledger_accounts', ['kind'], unique=True,
                    postgresql_where=sa.text('user_id IS NULL'))
    op.create_index('ix_generation_jobs_pending', 'generation_jobs', ['created_at'],
                    postgresql_where=sa.text("status IN ('queued', 'running')"))


def downgrade() -> None:
    op.drop_index('ix_generation_jobs_pending', table_name='generation_jobs')
    op.drop_index('uq_ledger_accounts_system_kind', table_name='ledger_accounts')
