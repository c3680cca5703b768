"""Seeding a shipped theme registers its training fingerprints once and publishes its metrics."""
from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from sqlalchemy import delete, func, literal_column, select

from effigies.uniqueness.fingerprint import BYTES, hamming
from effigies.uniqueness.training_set import write_training_fingerprints

METRICS = {
    "format": "effigies-metrics/2",
    "generator_sha256": "ab" * 32,
    "evaluated_at": "2026-11-25T07:00:00+00:00",
    "samples": 10000,
    "fingerprint": "value256",
    "radius": 20,
    "originality": 0.0123,
    "diversity": 0.9612,
    "swd": 41.5,
    "swd_levels": {"64": 20.1, "32": 22.4, "16": 82.0},
}


@pytest.fixture
def shipped_theme(stack, tmp_path, monkeypatch):
    """A stand-in pretrained folder with 12,000 training fingerprints (and a few duplicates) and a metrics.json."""
    from effigies.db import session_scope
    from effigies.themes import service as themes_service
    from effigies.themes.models import Theme
    from effigies.uniqueness.models import RegistryEntry

    slug = f"seed-test-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / slug
    folder.mkdir()
    # Seeding reads generator.json and only checks that the weights exist.
    (folder / "generator.safetensors").write_bytes(b"")
    (folder / "generator.json").write_text(json.dumps({"format": "test", "weights_sha256": METRICS["generator_sha256"]}))
    values = np.random.default_rng(7).integers(0, 256, size=(12_000, BYTES), dtype=np.uint8)
    write_training_fingerprints(folder, np.concatenate([values, values[:50]]), dataset_sha256="test")
    (folder / "metrics.json").write_text(json.dumps(METRICS))
    spec = themes_service.BuiltinTheme(
        slug=slug, name="Seed test", name_fr="Test", description="", description_fr="", pixel_art=False, attribution="",
    )
    monkeypatch.setattr(themes_service, "PRETRAINED_DIR", tmp_path)
    monkeypatch.setattr(themes_service, "BUILTIN_THEMES", (spec,))
    yield slug, folder, {bytes(v) for v in values}
    with session_scope() as session:
        theme_id = session.scalar(select(Theme.id).where(Theme.slug == slug))
        if theme_id is not None:
            session.execute(delete(RegistryEntry).where(RegistryEntry.theme_id == theme_id))
            session.execute(delete(Theme).where(Theme.id == theme_id))


def _training_rows(slug: str) -> tuple[int, set[bytes]]:
    from effigies.db import session_scope
    from effigies.themes.models import Theme
    from effigies.uniqueness.models import RegistryEntry

    with session_scope() as session:
        theme_id = session.scalar(select(Theme.id).where(Theme.slug == slug))
        where = (RegistryEntry.theme_id == theme_id, RegistryEntry.kind == "training")
        count = session.scalar(select(func.count()).select_from(RegistryEntry).where(*where))
        return count, set(session.scalars(select(RegistryEntry.fingerprint).where(*where)))


def _training_row_ids(slug: str) -> dict[int, tuple[bytes, object, str]]:
    """{row id: (fingerprint, created_at, xmin: the transaction that wrote this row version)}
    of the theme's training rows."""
    from effigies.db import session_scope
    from effigies.themes.models import Theme
    from effigies.uniqueness.models import RegistryEntry

    with session_scope() as session:
        rows = session.execute(
            select(RegistryEntry.id, RegistryEntry.fingerprint, RegistryEntry.created_at,
                   literal_column("registry_entries.xmin::text"))
            .join(Theme, Theme.id == RegistryEntry.theme_id)
            .where(Theme.slug == slug, RegistryEntry.kind == "training")
        )
        return {id_: (fp, created, xmin) for id_, fp, created, xmin in rows}


def test_seeding_registers_training_fingerprints_exactly_once(shipped_theme, client):
    from effigies.db import session_scope
    from effigies.themes import service as themes_service
    from effigies.uniqueness import service as uniqueness_service

    slug, folder, values = shipped_theme
    with session_scope() as session:
        themes_service.seed_builtin_themes(session=session)
    count, stored = _training_rows(slug)
    assert count == len(values) == 12_000 and stored == values
    rows = _training_row_ids(slug)

    # Seeding again (at every start) finds everything there; how fast is for a benchmark, not a test.
    with session_scope() as session:
        themes_service.seed_builtin_themes(session=session)
        theme = themes_service.get_theme(session=session, slug=slug)
        # Called directly too: nothing new, nothing duplicated.
        assert uniqueness_service.register_training_images(session=session, theme_id=theme.id, values=list(values)) == 0
    assert _training_rows(slug)[0] == 12_000
    # The very same rows: nothing deleted and inserted again, nothing rewritten.
    assert _training_row_ids(slug) == rows

    # A training image's near-copy (R - 1 bits flipped, the first and last among them) is found
    # by the sale filter's lookup, at its true distance; one R + 1 bits away is not.
    training = min(values)
    near = _flipped(training, [0, 255, *range(100, 117)])
    far = _flipped(training, [0, 255, *range(100, 119)])
    assert hamming(training, near) == 19 and hamming(training, far) == 21
    with session_scope() as session:
        found = uniqueness_service.find_near(session=session, value=near, radius=20, limit=1)
        assert [(entry.fingerprint, entry.kind, distance) for entry, distance in found] == [(training, "training", 19)]
        assert uniqueness_service.find_near(session=session, value=far, radius=20, limit=5) == []


def _flipped(value: bytes, bits) -> bytes:
    """``value`` with the given bit positions flipped (0 = the most significant)."""
    number = int.from_bytes(value, "big")
    for bit in bits:
        number ^= 1 << (8 * BYTES - 1 - bit)
    return number.to_bytes(BYTES, "big")


def test_seeding_publishes_metrics_of_the_same_weights_only(shipped_theme, client):
    from effigies.db import session_scope
    from effigies.themes import service as themes_service

    slug, folder, _ = shipped_theme
    with session_scope() as session:
        themes_service.seed_builtin_themes(session=session)
    body = client.get(f"/api/themes/{slug}").json()
    assert body["metrics"] == {
        "swd": 41.5, "originality": 0.0123, "diversity": 0.9612, "diversity_training": None, "samples": 10000,
        "radius": 20, "evaluated_at": "2026-11-25T07:00:00Z",
    }
    listed = next(t for t in client.get("/api/themes").json() if t["slug"] == slug)
    assert listed["metrics"]["diversity"] == 0.9612

    # Metrics measured on other weights are not shown as this generator's.
    (folder / "metrics.json").write_text(json.dumps({**METRICS, "generator_sha256": "cd" * 32, "diversity": 0.5}))
    with session_scope() as session:
        themes_service.seed_builtin_themes(session=session)
    assert client.get(f"/api/themes/{slug}").json()["metrics"]["diversity"] == 0.9612


def test_themes_without_metrics_show_none(client):
    for theme in client.get("/api/themes").json():
        assert "metrics" in theme
