"""idempotency_keys (Idempotency-Key on purchases), ledger_transactions.details, topups.failure_code

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 16:00:00

`details` holds what a wallet line refers to (the avatar bought, the top-up, an adjustment's
reason) so the wallet page can describe it in the reader's language. Existing rows get theirs
from what they already say: the purchase reference names the candidate, the top-up reference
the top-up, an adjustment's description its reason and admin.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request', sa.String(length=200), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.add_column('ledger_transactions', sa.Column(
        'details', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False))
    op.add_column('topups', sa.Column('failure_code', sa.String(length=64), nullable=True))

    op.execute("""
        UPDATE ledger_transactions t SET details = jsonb_build_object('avatar_id', a.id::text)
        FROM avatars a WHERE t.kind = 'purchase' AND t.reference = 'purchase:' || a.candidate_id::text
    """)
    op.execute("""
        UPDATE ledger_transactions SET details = jsonb_build_object('topup_id', substr(reference, 7))
        WHERE kind = 'topup' AND reference LIKE 'topup:%'
    """)
    op.execute(r"""
        UPDATE ledger_transactions SET details = jsonb_build_object(
            'reason', substring(description from '^Goodwill adjustment: (.*) \(admin [0-9a-f-]+\)$'),
            'admin_id', substring(description from '\(admin ([0-9a-f-]+)\)$'))
        WHERE kind = 'adjustment' AND description ~ '^Goodwill adjustment: .* \(admin [0-9a-f-]+\)$'
    """)


def downgrade() -> None:
    op.drop_column('topups', 'failure_code')
    op.drop_column('ledger_transactions', 'details')
    op.drop_table('idempotency_keys')
