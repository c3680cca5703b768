"""Admin stats: generation_jobs.candidates_count, BRIN indexes on created_at of jobs and avatars

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 15:00:00

Unsold candidates' rows are deleted a week after they expire, so "images offered per day" over
30 days cannot be counted from the candidates table: each job now records how many it offered.
Jobs finished before this revision get the count of their candidate rows still stored (exact
for the last week, a lower bound before it); failed jobs offered none.

The stats read the last N days of two append-mostly tables by created_at; a BRIN index makes
that a scan of the recent block ranges, for a few pages of index and almost no insert cost.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('generation_jobs', sa.Column('candidates_count', sa.Integer(), nullable=True))
    op.execute(
        """
        UPDATE generation_jobs AS j SET candidates_count = coalesce(c.n, 0)
        FROM generation_jobs AS g
        LEFT JOIN (SELECT job_id, count(*) AS n FROM candidates GROUP BY job_id) AS c ON c.job_id = g.id
        WHERE j.id = g.id AND g.status IN ('done', 'failed')
        """
    )
    op.create_index('ix_generation_jobs_created_at_brin', 'generation_jobs', ['created_at'], postgresql_using='brin')
    op.create_index('ix_avatars_created_at_brin', 'avatars', ['created_at'], postgresql_using='brin')


def downgrade() -> None:
    op.drop_index('ix_avatars_created_at_brin', table_name='avatars')
    op.drop_index('ix_generation_jobs_created_at_brin', table_name='generation_jobs')
    op.drop_column('generation_jobs', 'candidates_count')
