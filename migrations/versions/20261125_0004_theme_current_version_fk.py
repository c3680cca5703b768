"""themes.current_model_version_id references model_versions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:05:00

The model declared this foreign key (use_alter, the two tables point at each
other) but 0001 did not create it; tests/test_migrations.py compares the two.
A pointer at a version that no longer exists is cleared first.
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE themes SET current_model_version_id = NULL WHERE current_model_version_id IS NOT NULL "
        "AND current_model_version_id NOT IN (SELECT id FROM model_versions)"
    )
    op.create_foreign_key(
        'fk_themes_current_model_version_id_model_versions', 'themes', 'model_versions',
        ['current_model_version_id'], ['id'], ondelete='SET NULL',
    )


def downgrade() -> None:
    op.drop_constraint('fk_themes_current_model_version_id_model_versions', 'themes', type_='foreignkey')
