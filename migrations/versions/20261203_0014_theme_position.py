"""themes.position: the catalogue's order, which an admin sets

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:00:00

Every list of themes (GET /api/themes, the admin table) is sorted by position, then name; an
admin rewrites the positions (PUT /api/admin/themes/order). The shipped themes start most
appealing first, as effigies.themes.service.BUILTIN_THEMES lists them for a fresh database:
pixel-heroes, galactic-droids, emoji-folk, arcane-sigils; every other theme after them, by name.
Positions count from 1. A theme inserted later without one goes after the others (the model's
default, evaluated in the INSERT); the column itself has no server default.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# Spelled here, not imported: a migration keeps the order it was written with.
SHIPPED_ORDER = ('pixel-heroes', 'galactic-droids', 'emoji-folk', 'arcane-sigils')


def upgrade() -> None:
    op.add_column('themes', sa.Column('position', sa.Integer(), nullable=True))
    shipped = ', '.join(f"'{slug}'" for slug in SHIPPED_ORDER)
    op.execute(
        'UPDATE themes SET position = ordered.position FROM ('
        ' SELECT id, row_number() OVER ('
        f'  ORDER BY array_position(ARRAY[{shipped}]::text[], slug::text) NULLS LAST, name, slug) AS position'
        ' FROM themes) AS ordered'
        ' WHERE themes.id = ordered.id'
    )
    op.alter_column('themes', 'position', existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    op.drop_column('themes', 'position')
