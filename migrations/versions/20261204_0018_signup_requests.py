"""signup_requests: a sign-up waits for its e-mailed link before the account exists

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 02:00:00

Sign-up used to create the account and log in at once, answering 409 email_taken for an
address that had one: anybody could tell which addresses have an account. It now answers the
same to everyone and mails a link (a new address) or a notice (a known one); the account is
created when the link is opened, from the request kept here (effigies.accounts.signups).
A new table: nothing to carry over; downgrading drops the sign-ups still waiting.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'signup_requests',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('display_name', sa.String(length=80), nullable=False),
        sa.Column('locale', sa.String(length=2), nullable=False),
        sa.Column('visitor_key', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("locale IN ('fr', 'en')", name=op.f('ck_signup_requests_locale')),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_signup_requests')),
    )
    op.create_index(op.f('ix_signup_requests_email'), 'signup_requests', ['email'], unique=False)
    op.create_index(op.f('ix_signup_requests_expires_at'), 'signup_requests', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_signup_requests_expires_at'), table_name='signup_requests')
    op.drop_index(op.f('ix_signup_requests_email'), table_name='signup_requests')
    op.drop_table('signup_requests')
