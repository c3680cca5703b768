"""avatar_email_links: an owner's verified e-mail address answering with one of their avatars

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 18:30:00

GET /avatar/{hash} (Gravatar- and Libravatar-compatible, effigies.avatars.public) looks an
address up by the MD5 or the SHA-256 of its trimmed, lower-cased form: both are kept, each
unique (one avatar per address), and the address itself is not (users.email has the account's).
A new table: nothing to carry over; downgrading drops the links.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'avatar_email_links',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('avatar_id', sa.Uuid(), nullable=False),
        sa.Column('md5', sa.String(length=32), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_avatar_email_links_user_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['avatar_id'], ['avatars.id'], name=op.f('fk_avatar_email_links_avatar_id_avatars'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_avatar_email_links')),
        sa.UniqueConstraint('md5', name=op.f('uq_avatar_email_links_md5')),
        sa.UniqueConstraint('sha256', name=op.f('uq_avatar_email_links_sha256')),
    )
    op.create_index(op.f('ix_avatar_email_links_user_id'), 'avatar_email_links', ['user_id'], unique=False)
    op.create_index(op.f('ix_avatar_email_links_avatar_id'), 'avatar_email_links', ['avatar_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_avatar_email_links_avatar_id'), table_name='avatar_email_links')
    op.drop_index(op.f('ix_avatar_email_links_user_id'), table_name='avatar_email_links')
    op.drop_table('avatar_email_links')
