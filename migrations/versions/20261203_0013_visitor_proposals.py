"""generation_jobs.visitor and candidates.visitor: a visitor tries a theme before signing up

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00

A job and its candidates belong either to an account (user_id) or to a visitor without one
(visitor: the SHA-256 of their ee_visitor cookie, never the cookie itself), exactly one of the
two (ck_..._one_owner). Every existing row has a user, so the check holds at once. Signing up or
logging in moves the visitor's unexpired proposals to the account (generation.service.adopt_visitor).
Downgrading deletes visitors' rows first: the old schema has no owner for them.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

ONE_OWNER = '(user_id IS NULL) <> (visitor IS NULL)'


def upgrade() -> None:
    for table in ('generation_jobs', 'candidates'):
        op.add_column(table, sa.Column('visitor', sa.String(length=64), nullable=True))
        op.alter_column(table, 'user_id', existing_type=sa.Uuid(), nullable=True)
        op.create_check_constraint(op.f(f'ck_{table}_one_owner'), table, ONE_OWNER)
        op.create_index(op.f(f'ix_{table}_visitor'), table, ['visitor'], unique=False,
                        postgresql_where=sa.text('visitor IS NOT NULL'))


def downgrade() -> None:
    op.execute('DELETE FROM candidates WHERE user_id IS NULL')
    op.execute('DELETE FROM generation_jobs WHERE user_id IS NULL')
    for table in ('candidates', 'generation_jobs'):
        op.drop_index(op.f(f'ix_{table}_visitor'), table_name=table, postgresql_where=sa.text('visitor IS NOT NULL'))
        op.drop_constraint(op.f(f'ck_{table}_one_owner'), table, type_='check')
        op.alter_column(table, 'user_id', existing_type=sa.Uuid(), nullable=False)
        op.drop_column(table, 'visitor')
