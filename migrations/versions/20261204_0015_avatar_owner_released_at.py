"""avatars.owner_released_at: when the avatar's ownership ended (its owner deleted the account)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 10:00:00

Deleting an account clears avatars.owner_id; from now on it also stamps owner_released_at, so
that verifying a certificate downloaded before says "signature genuine, ownership ended on
<date>" (effigies.certificates). Avatars already ownerless get the deletion date of the account
that bought them (candidates.user_id is the buyer, users.deleted_at its deletion); one whose
buyer cannot be told keeps NULL: ownership ended, date not recorded.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('avatars', sa.Column('owner_released_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        'UPDATE avatars SET owner_released_at = users.deleted_at'
        ' FROM candidates JOIN users ON users.id = candidates.user_id'
        ' WHERE candidates.id = avatars.candidate_id'
        ' AND avatars.owner_id IS NULL AND users.deleted_at IS NOT NULL'
    )


def downgrade() -> None:
    op.drop_column('avatars', 'owner_released_at')
