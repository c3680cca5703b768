"""one registry row per training image of a theme

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 07:00:00

Shipped themes register their training pHashes at every start; the partial
unique index makes that idempotent even when two processes seed at once.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before the index existed: keep the oldest of each duplicate.
    op.execute(
        """
        DELETE FROM registry_entries a USING registry_entries b
        WHERE a.kind = 'training' AND b.kind = 'training'
          AND a.theme_id = b.theme_id AND a.phash = b.phash AND a.id > b.id
        """
    )
    op.create_index(
        'uq_registry_entries_training_theme_id_phash', 'registry_entries', ['theme_id', 'phash'],
        unique=True, postgresql_where=sa.text("kind = 'training'"),
    )


def downgrade() -> None:
    op.drop_index('uq_registry_entries_training_theme_id_phash', table_name='registry_entries')
