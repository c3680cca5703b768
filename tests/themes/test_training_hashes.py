"""Seeding a shipped theme registers its training pHashes once and publishes its metrics."""
from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from effigies.uniqueness.training_set import write_training_phashes

METRICS = {
    "format": "effigies-metrics/1",
    "generator_sha256": "ab" * 32,
    "evaluated_at": "2026-11-25T07:00:00+00:00",
    "samples": 10000,
    "radius": 4,
    "originality": 0.0123,
    "diversity": 0.9612,
    "swd": 41.5,
    "swd_levels": {"64": 20.1, "32": 22.4, "16": 82.0},
}


@pytest.fixture
def shipped_theme(stack, tmp_path, monkeypatch):
    """A stand-in pretrained folder with 12,000 training pHashes (and a few duplicates) and a metrics.json."""
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
    hashes = np.random.default_rng(7).integers(-(1 << 63), (1 << 63) - 1, size=12_000, dtype=np.int64)
    write_training_phashes(folder, np.concatenate([hashes, hashes[:50]]), dataset_sha256="test")
    (folder / "metrics.json").write_text(json.dumps(METRICS))
    spec = themes_service.BuiltinTheme(
        slug=slug, name="Seed test", name_fr="Test", description="", description_fr="", pixel_art=False, attribution="",
    )
    monkeypatch.setattr(themes_service, "PRETRAINED_DIR", tmp_path)
    monkeypatch.setattr(themes_service, "BUILTIN_THEMES", (spec,))
    yield slug, folder, {int(h) for h in hashes}
    with session_scope() as session:
        theme_id = session.scalar(select(Theme.id).where(Theme.slug == slug))
        if theme_id is not None:
            session.execute(delete(RegistryEntry).where(RegistryEntry.theme_id == theme_id))
            session.execute(delete(Theme).where(Theme.id == theme_id))


def _training_rows(slug: str) -> tuple[int, set[int]]:
    from effigies.db import session_scope
    from effigies.themes.models import Theme
    from effigies.uniqueness.models import RegistryEntry

    with session_scope() as session:
        theme_id = session.scalar(select(Theme.id).where(Theme.slug == slug))
        where = (RegistryEntry.theme_id == theme_id, RegistryEntry.kind == "training")
        count = session.scalar(select(func.count()).select_from(RegistryEntry).where(*where))
        return count, set(session.scalars(select(RegistryEntry.phash).where(*where)))


def test_seeding_registers_training_hashes_exactly_once(shipped_theme, client):
    from effigies.db import session_scope
    from effigies.themes import service as themes_service
    from effigies.uniqueness import service as uniqueness_service

    slug, folder, hashes = shipped_theme
    start = time.perf_counter()
    with session_scope() as session:
        themes_service.seed_builtin_themes(session=session)
    first = time.perf_counter() - start
    count, stored = _training_rows(slug)
    assert count == len(hashes) == 12_000 and stored == hashes
    assert first < 30, f"first seeding took {first:.1f}s"

    start = time.perf_counter()
    with session_scope() as session:
        themes_service.seed_builtin_themes(session=session)
        theme = themes_service.get_theme(session=session, slug=slug)
        # Called directly too: nothing new, nothing duplicated.
        assert uniqueness_service.register_training_images(session=session, theme_id=theme.id, hashes=list(hashes)) == 0
    assert _training_rows(slug)[0] == 12_000
    assert time.perf_counter() - start < 10

    # A training image's near-copy is refused by the sale filter's lookup.
    near = next(iter(hashes)) ^ 0b101
    with session_scope() as session:
        assert uniqueness_service.find_near(session=session, phash_value=near, radius=4, limit=1)


def test_seeding_publishes_metrics_of_the_same_weights_only(shipped_theme, client):
    from effigies.db import session_scope
    from effigies.themes import service as themes_service

    slug, folder, _ = shipped_theme
    with session_scope() as session:
        themes_service.seed_builtin_themes(session=session)
    body = client.get(f"/api/themes/{slug}").json()
    assert body["metrics"] == {
        "swd": 41.5, "originality": 0.0123, "diversity": 0.9612, "diversity_training": None, "samples": 10000,
        "radius": 4, "evaluated_at": "2026-11-25T07:00:00Z",
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
