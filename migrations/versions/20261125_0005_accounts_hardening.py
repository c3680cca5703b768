"""auth_sessions.last_seen_at (idle timeout) and users.deleted_at (anonymised accounts)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 14:00:00

Existing sessions count as seen now: the idle clock starts at the upgrade rather than logging
everybody out.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('auth_sessions', sa.Column(
        'last_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False))
    op.add_column('users', sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'deleted_at')
    op.drop_column('auth_sessions', 'last_seen_at')
