"""training_runs: admin-started trainings on the `train` queue, with their lease and live progress

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 14:00:00

A partial unique index allows one queued or running run per theme; model_version_id is unique,
so a run can never be credited with two versions (effigies.training.service.finish).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'training_runs',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('theme_id', sa.Uuid(), nullable=False),
        sa.Column('preset', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('queue', sa.String(length=64), nullable=False),
        sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('progress', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('cancel_requested', sa.Boolean(), nullable=False),
        sa.Column('lease_owner', sa.String(length=200), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('model_version_id', sa.Uuid(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_by_id', sa.Uuid(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'cancelled')",
                           name=op.f('ck_training_runs_status')),
        sa.CheckConstraint("preset IN ('quick', 'standard', 'long')", name=op.f('ck_training_runs_preset')),
        sa.ForeignKeyConstraint(['theme_id'], ['themes.id'], name=op.f('fk_training_runs_theme_id_themes'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'],
                                name=op.f('fk_training_runs_model_version_id_model_versions'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_training_runs_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_training_runs')),
        sa.UniqueConstraint('model_version_id', name=op.f('uq_training_runs_model_version_id')),
    )
    op.create_index(op.f('ix_training_runs_theme_id'), 'training_runs', ['theme_id'], unique=False)
    op.create_index('uq_training_runs_active_theme', 'training_runs', ['theme_id'], unique=True,
                    postgresql_where=sa.text("status IN ('queued', 'running')"))


def downgrade() -> None:
    op.drop_index('uq_training_runs_active_theme', table_name='training_runs',
                  postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.drop_index(op.f('ix_training_runs_theme_id'), table_name='training_runs')
    op.drop_table('training_runs')
