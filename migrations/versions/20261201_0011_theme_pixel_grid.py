"""themes.pixel_grid: pixel art drawn on an 8, 16 or 32 cell grid

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 22:00:00

An admin may declare a new theme "pixel art, grid N": its examples must be drawn exactly on N x N
cells and its generator then draws that grid, one pixel per cell, snapped to a palette learned
from the set (effigies.training.presets). The column is nullable: every existing theme, pixel
art or not, has no declared grid and trains as before. A grid implies pixel art (the previews'
nearest-neighbour enlargement), which the check states, with the grids offered.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('themes', sa.Column('pixel_grid', sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f('ck_themes_pixel_grid'), 'themes', 'pixel_grid IS NULL OR (pixel_art AND pixel_grid IN (8, 16, 32))'
    )


def downgrade() -> None:
    op.drop_constraint(op.f('ck_themes_pixel_grid'), 'themes', type_='check')
    op.drop_column('themes', 'pixel_grid')
