"""The migrations build exactly the schema the models describe (nothing only one side knows)."""
from __future__ import annotations


def test_migrated_database_matches_the_models(stack):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from effigies.db import get_engine
    from effigies.models import metadata

    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert diff == []


def test_upgrading_an_install_with_sold_avatars_fingerprints_them_again(stack):
    """0002 -> head on a database holding a sold avatar (image on disk) and an offered candidate
    whose image is gone: the avatar is registered again with its 256-bit fingerprint, the
    orphaned candidate expires, the old 64-bit training rows go."""
    import uuid

    import numpy as np
    from PIL import Image
    from sqlalchemy import text

    from effigies.config import get_settings
    from effigies.uniqueness.fingerprint import fingerprint
    from effigies.uniqueness.index import band_values
    from tests.conftest import fresh_database, migrate

    with fresh_database(stack, "0002") as engine:
        folder = f"candidates/{uuid.uuid4()}"
        (get_settings().images_dir / folder).mkdir(parents=True)
        image = Image.fromarray((np.random.default_rng(3).random((64, 64, 3)) * 255).astype("uint8"))
        image.save(get_settings().images_dir / folder / "0.png")
        ids = {k: uuid.uuid4() for k in ("user", "theme", "version", "job", "sold", "orphan", "avatar")}
        with engine.begin() as c:
            c.execute(text("INSERT INTO users (id, email, password_hash, display_name, role, locale) "
                           "VALUES (:user, 'm@players.effigies.fr', 'x', 'M', 'user', 'fr')"), ids)
            c.execute(text("INSERT INTO themes (id, slug, name, name_fr, description, description_fr, attribution, status, "
                           "pixel_art) VALUES (:theme, 'mig', 'Mig', 'Mig', '', '', '', 'published', false)"), ids)
            c.execute(text("INSERT INTO model_versions (id, theme_id, version, weights_dir, config, metrics) "
                           "VALUES (:version, :theme, 1, 'w', '{}', '{}')"), ids)
            c.execute(text("INSERT INTO generation_jobs (id, user_id, theme_id, model_version_id, count, seed, status, "
                           "rejected_near_duplicates) VALUES (:job, :user, :theme, :version, 2, 1, 'done', 0)"), ids)
            for key, position, path, status in (("sold", 0, f"{folder}/0.png", "sold"), ("orphan", 1, f"{folder}/gone.png", "offered")):
                c.execute(text("INSERT INTO candidates (id, job_id, position, user_id, theme_id, model_version_id, phash, "
                               "image_path, status, expires_at) VALUES (:id, :job, :pos, :user, :theme, :version, 5, :path, "
                               ":status, now() + interval '1 hour')"), {**ids, "id": ids[key], "pos": position, "path": path, "status": status})
            c.execute(text("INSERT INTO avatars (id, public_id, owner_id, candidate_id, theme_id, model_version_id, phash, "
                           "image_path, price_cents) VALUES (:avatar, 'pub-mig', :user, :sold, :theme, :version, 5, :path, 10)"),
                      {**ids, "path": f"{folder}/0.png"})
            c.execute(text("INSERT INTO registry_entries (phash, kind, theme_id, avatar_id) VALUES "
                           "(5, 'sold', :theme, :avatar), (77, 'training', :theme, NULL)"), ids)

        migrate(engine, "head")
        expected = fingerprint(image)
        with engine.connect() as c:
            rows = c.execute(text("SELECT kind, fingerprint::text, band0, band9 FROM registry_entries")).all()
            assert [(r[0], int(r[1], 2).to_bytes(32, "big"), r[2], r[3]) for r in rows] == [
                ("sold", expected, band_values(expected)[0], band_values(expected)[9])]
            assert bytes(c.scalar(text("SELECT fingerprint FROM avatars"))) == expected
            assert c.scalar(text("SELECT status FROM candidates WHERE id = :orphan"), ids) == "expired"

