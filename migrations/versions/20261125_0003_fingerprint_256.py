"""256-bit brightness fingerprints with multi-index-hashing bands

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:40:00

The 64-bit pHash cannot be widened: every sold avatar and offered candidate is
fingerprinted again from its stored image. Training rows are dropped; each
start re-registers them from the models' training_fingerprints.safetensors.
A sold avatar whose image file is missing stops the migration (nothing is
changed): its uniqueness could no longer be guaranteed.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BANDS = 10  # effigies.uniqueness.index.BANDS when this revision was written


def _fingerprint_file(path):
    from PIL import Image

    from effigies.uniqueness.fingerprint import fingerprint

    with Image.open(path) as image:
        return fingerprint(image)


def upgrade() -> None:
    from effigies.config import get_settings
    from effigies.uniqueness.fingerprint import to_bitstring
    from effigies.uniqueness.index import band_values

    bind = op.get_bind()
    images = get_settings().images_dir

    op.add_column('avatars', sa.Column('fingerprint', postgresql.BYTEA(), nullable=True))
    op.add_column('candidates', sa.Column('fingerprint', postgresql.BYTEA(), nullable=True))
    for avatar_id, relative in bind.execute(sa.text("SELECT id, image_path FROM avatars")).all():
        path = images / relative
        if not path.is_file():
            raise RuntimeError(f"avatar {avatar_id}: image {path} is missing; restore it, then migrate again")
        bind.execute(sa.text("UPDATE avatars SET fingerprint = :f WHERE id = :id"),
                     {"f": _fingerprint_file(path), "id": avatar_id})
    for candidate_id, relative, status in bind.execute(sa.text("SELECT id, image_path, status FROM candidates")).all():
        path = images / relative
        if path.is_file():
            bind.execute(sa.text("UPDATE candidates SET fingerprint = :f WHERE id = :id"),
                         {"f": _fingerprint_file(path), "id": candidate_id})
        else:  # an offered candidate without its image can no longer be shown or sold
            bind.execute(sa.text("UPDATE candidates SET fingerprint = decode(repeat('00', 32), 'hex'), "
                                 "status = CASE WHEN status = 'offered' THEN 'expired' ELSE status END WHERE id = :id"),
                         {"id": candidate_id})
    op.alter_column('avatars', 'fingerprint', nullable=False)
    op.alter_column('candidates', 'fingerprint', nullable=False)
    op.drop_column('avatars', 'phash')
    op.drop_column('candidates', 'phash')

    op.execute("DELETE FROM registry_entries WHERE kind = 'training'")
    op.drop_index('uq_registry_entries_training_theme_id_phash', table_name='registry_entries')
    op.drop_index('ix_registry_entries_phash', table_name='registry_entries')
    op.drop_column('registry_entries', 'phash')
    op.execute("ALTER TABLE registry_entries ADD COLUMN fingerprint BIT(256)")
    for band in range(BANDS):
        op.add_column('registry_entries', sa.Column(f'band{band}', sa.Integer(), nullable=True))
    sold = bind.execute(sa.text(
        "SELECT r.id, a.fingerprint FROM registry_entries r JOIN avatars a ON a.id = r.avatar_id WHERE r.kind = 'sold'"
    )).all()
    for entry_id, value in sold:
        value = bytes(value)
        params = {"id": entry_id, "f": to_bitstring(value), **{f"b{b}": v for b, v in enumerate(band_values(value))}}
        bands = ", ".join(f"band{b} = :b{b}" for b in range(BANDS))
        bind.execute(sa.text(f"UPDATE registry_entries SET fingerprint = CAST(:f AS BIT(256)), {bands} WHERE id = :id"), params)
    op.execute("DELETE FROM registry_entries WHERE fingerprint IS NULL")  # sold rows without an avatar
    op.alter_column('registry_entries', 'fingerprint', nullable=False)
    for band in range(BANDS):
        op.alter_column('registry_entries', f'band{band}', nullable=False)
        op.create_index(f'ix_registry_entries_band{band}', 'registry_entries', [f'band{band}'])
    op.create_index(
        'uq_registry_entries_training_theme_id_fingerprint', 'registry_entries', ['theme_id', 'fingerprint'],
        unique=True, postgresql_where=sa.text("kind = 'training'"),
    )


def downgrade() -> None:
    raise RuntimeError("0003 cannot be undone: 256-bit fingerprints do not fit the old 64-bit column")
