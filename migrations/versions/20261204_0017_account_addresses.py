"""account_addresses: an account's extra e-mail addresses, verified by a mailed link

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 02:00:00

An owner links these to an avatar at /avatar/{hash} as they do the account's own address
(effigies.accounts.addresses). A verified address belongs to one account only: a partial unique
index on the address where verified_at is set. Only the SHA-256 of the mailed link is kept.
A new table: nothing to carry over; downgrading drops the extra addresses (their avatar links
stay in avatar_email_links until unlinked: drop them first if that matters).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'account_addresses',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('token_hash', sa.String(length=64), nullable=True),
        sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_addresses_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_addresses')),
        sa.UniqueConstraint('user_id', 'email', name=op.f('uq_account_addresses_user_id')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_account_addresses_token_hash')),
    )
    op.create_index(op.f('ix_account_addresses_user_id'), 'account_addresses', ['user_id'], unique=False)
    op.create_index('uq_account_addresses_verified_email', 'account_addresses', ['email'], unique=True,
                    postgresql_where=sa.text('verified_at IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('uq_account_addresses_verified_email', table_name='account_addresses',
                  postgresql_where=sa.text('verified_at IS NOT NULL'))
    op.drop_index(op.f('ix_account_addresses_user_id'), table_name='account_addresses')
    op.drop_table('account_addresses')
