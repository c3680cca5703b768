"""The admin side of themes: create one from an upload or a built dataset, see how each one does,
publish, retire, and set the order the catalogue lists them in."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from effigies.config import get_settings
from effigies.themes import built_datasets, large_images, uploads
from effigies.themes.models import ModelVersion, Theme
from effigies.themes.service import CATALOGUE_ORDER, ThemesError, get_theme, is_slug, resolve_weights_dir
from effigies.uniqueness import service as uniqueness_service
from effigies.uniqueness.training_set import (
    TRAINING_FINGERPRINTS_FILE,
    dataset_sha256,
    read_training_fingerprints,
    write_training_fingerprints,
)

SOURCES_FILE = "sources.json"
# In a set made from a built dataset: its name, so the form can tell which built sets are in use.
ORIGIN_FILE = "origin.json"


@dataclass(frozen=True)
class NewTheme:
    slug: str
    name: str
    name_fr: str
    description: str
    description_fr: str
    attribution: str
    pixel_art: bool
    pixel_grid: int | None = None  # cells per side of pixel art drawn on a grid (effigies.themes.pixel_grid)


def datasets_dir() -> Path:
    return get_settings().data_dir / "datasets"


def dataset_dir(slug: str) -> Path:
    return datasets_dir() / slug


def _refusal(report: uploads.Report) -> ThemesError:
    details: dict[str, Any] = {
        "refused": [p.as_dict() for p in report.refused],
        "skipped": [p.as_dict() for p in report.skipped],
        "usable_images": len(report.images),
        "min_images": report.min_images,
    }
    if report.fatal is not None:
        details["refused"].insert(0, report.fatal.as_dict())
        return ThemesError(report.fatal.reason, report.fatal.message, status=422, details=details)
    if report.refused:
        n = len(report.refused)
        return ThemesError(
            "upload_refused",
            f"{n} entr{'y' if n == 1 else 'ies'} of the {'archive' if report.source == 'archive' else 'dataset'} "
            "could not be accepted: nothing was stored.",
            status=422, details=details,
        )
    return ThemesError(
        "too_few_images",
        f"Only {len(report.images)} usable images: a theme needs at least {report.min_images}. Nothing was stored.",
        status=422, details=details,
    )


def _check_slug_free(session: Session, slug: str) -> None:
    if session.scalar(select(Theme.id).where(Theme.slug == slug)) is not None:
        raise ThemesError("slug_taken", f"A theme called {slug!r} already exists.", status=409)
    if dataset_dir(slug).exists():
        # By default built sets and themes' sets share var/datasets: a built set called like the
        # new theme sits where the theme's own set would go.
        raise ThemesError(
            "slug_taken", f"A training set called {slug!r} already exists in {datasets_dir()}: choose another identifier.",
            status=409,
        )


def _write_dataset(slug: str, report: uploads.Report, origin: str | None) -> Path:
    """Write into a hidden sibling folder, then rename: a training run never sees half a set,
    and a crash leaves only a dot-folder that no theme points to."""
    root = datasets_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".upload-{slug}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        paths = []
        for index, image in enumerate(report.images):
            path = staging / f"{index:05d}.png"
            path.write_bytes(image.png)
            paths.append(path)
            if image.large is not None:
                # The same name as its 64 px image: the upscaler's pairs are matched by name.
                (staging / large_images.LARGE_DIR).mkdir(exist_ok=True)
                (staging / large_images.LARGE_DIR / path.name).write_bytes(image.large)
        # The sale filter refuses near-copies of training images; a generator trained on this
        # set may ship without them, so they stay with the set (registered at publish).
        write_training_fingerprints(
            staging, [i.fingerprint for i in report.images], dataset_sha256=dataset_sha256(paths), dataset=slug
        )
        sources = {p.name: i.source for p, i in zip(paths, report.images)}
        (staging / SOURCES_FILE).write_text(json.dumps(sources, ensure_ascii=False, indent=0))
        if origin is not None:
            (staging / ORIGIN_FILE).write_text(json.dumps({"built_dataset": origin}))
        final = dataset_dir(slug)
        os.rename(staging, final)  # refuses a non-empty target: never merges into another set
        return final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def create_theme(
    *, session: Session, new: NewTheme, archive: BinaryIO | None = None, dataset: str | None = None
) -> tuple[Theme, uploads.Report]:
    """A draft theme and its training set, from a zip (`archive`) or a built set (`dataset`, its
    folder's name), or ThemesError (422 with the report) and nothing stored. Both go through the
    same checks (effigies.themes.uploads.check_entries) and end up the same: re-encoded images
    in datasets_dir()/<slug>, the 256 px versions of large ones in its large_images.LARGE_DIR.

    Commits itself: the theme row and the dataset folder must appear together, so the folder
    is removed again if the commit fails."""
    if archive is None and dataset is None:
        raise ThemesError("archive_missing", "Choose a zip file of example images or a built dataset.", status=422)
    if archive is not None and dataset is not None:
        raise ThemesError("two_sources", "Send either a zip file or a built dataset's name, not both.", status=422)
    if dataset is not None:
        built_datasets.resolve(dataset)  # a bad name is answered before anything else
    _check_slug_free(session, new.slug)
    if dataset is not None:
        report = built_datasets.process(dataset, pixel_art=new.pixel_art, pixel_grid=new.pixel_grid)
    else:
        report = uploads.process_archive(archive, pixel_art=new.pixel_art, pixel_grid=new.pixel_grid)
    if not report.ok:
        raise _refusal(report)
    theme = Theme(status="draft", **new.__dict__)  # its position: after every existing theme (the column's default)
    session.add(theme)
    try:
        session.flush()  # a concurrent upload of the same slug waits here, then fails
    except IntegrityError:
        session.rollback()
        raise ThemesError("slug_taken", f"A theme called {new.slug!r} already exists.", status=409) from None
    try:
        folder = _write_dataset(new.slug, report, dataset)
    except OSError:
        session.rollback()
        raise ThemesError("slug_taken", f"A training set called {new.slug!r} already exists.", status=409) from None
    try:
        session.commit()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return theme, report


def _built_from(folder: Path) -> str | None:
    try:
        origin = json.loads((folder / ORIGIN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return origin.get("built_dataset") if isinstance(origin, dict) else None


def list_built_datasets(*, session: Session) -> list[dict[str, Any]]:
    """The built sets the form offers: folders of built_datasets.root() with at least one image
    file, each with its counts and the themes made from it (or whose own set it is, when both
    live in var/datasets). Themes' own sets (they hold sources.json) are not offered."""
    root = built_datasets.root()
    users: dict[str, list[str]] = {}
    for slug in session.scalars(select(Theme.slug).order_by(Theme.slug)):
        own = dataset_dir(slug)
        for name in {_built_from(own), slug if own.resolve() == root / slug else None} - {None}:
            users.setdefault(name, []).append(slug)
    rows = []
    for name in built_datasets.names():
        if len(rows) == built_datasets.MAX_LISTED:
            break
        if (root / name / SOURCES_FILE).exists():
            continue
        try:
            counts = built_datasets.summary(name)
        except ThemesError:  # removed or replaced by a link since it was listed
            continue
        if counts["images"]:
            rows.append({"name": name, **counts, "used_by": users.get(name, [])})
    return rows


def _training_image_count(slug: str, metrics: dict | None) -> int | None:
    folder = dataset_dir(slug)
    sources = folder / SOURCES_FILE
    if sources.is_file():
        return len(json.loads(sources.read_text()))
    # Shipped themes keep their images out of the package; their evaluation counted them.
    value = (metrics or {}).get("training_images")
    return value if isinstance(value, int) else None


def _version_ready(weights_dir: str) -> bool:
    try:
        return (resolve_weights_dir(weights_dir) / "generator.safetensors").is_file()
    except ValueError:
        return False


def _capacity(metrics: dict) -> float | None:
    """Sales before half of fresh samples are refused (scripts/bench_capacity.py, copied into a
    shipped generator's metrics.json), or None: never measured, or measured at another radius
    than the one the shop now refuses at (the number would not hold)."""
    capacity = metrics.get("capacity")
    if not isinstance(capacity, (int, float)) or isinstance(capacity, bool):
        return None
    radius = metrics.get("capacity_radius")
    if radius is not None and radius != get_settings().uniqueness_radius:
        return None
    return capacity


def overview(*, session: Session, slug: str | None = None) -> list[dict[str, Any]]:
    """Every theme (or the one called `slug`), whatever its status, with its versions: the themes' part
    of the admin table (effigies.curation.service.overview adds sales and refusals), in the catalogue's order."""
    query = select(Theme).order_by(*CATALOGUE_ORDER, Theme.slug)
    themes = list(session.scalars(query.where(Theme.slug == slug) if slug else query))
    ids = [t.id for t in themes]
    versions: dict[uuid.UUID, list[dict[str, Any]]] = {}
    metrics: dict[uuid.UUID, dict] = {}
    for v in session.scalars(select(ModelVersion).where(ModelVersion.theme_id.in_(ids)).order_by(ModelVersion.version)):
        capacity = _capacity(v.metrics or {})
        versions.setdefault(v.theme_id, []).append({
            "id": v.id, "version": v.version, "created_at": v.created_at, "ready": _version_ready(v.weights_dir),
            "capacity": capacity,
            "capacity_is_lower_bound": capacity is not None and (v.metrics or {}).get("capacity_is_lower_bound") is True,
        })
        metrics[v.id] = v.metrics or {}
    rows = []
    for theme in themes:
        own = versions.get(theme.id, [])
        current = next((v for v in own if v["id"] == theme.current_model_version_id), None)
        rows.append({
            "theme": theme,
            "model_version": current,
            "versions": own,
            "training_images": _training_image_count(theme.slug, metrics.get(theme.current_model_version_id)),
            "capacity": current["capacity"] if current else None,
            "capacity_is_lower_bound": current["capacity_is_lower_bound"] if current else False,
        })
    return rows


def _locked(session: Session, slug: str) -> Theme:
    theme = session.scalar(select(Theme).where(Theme.slug == slug).with_for_update()) if is_slug(slug) else None
    if theme is None:
        get_theme(session=session, slug=slug)  # raises the usual 404
    return theme


def _register_training_set(session: Session, theme: Theme, version: ModelVersion) -> None:
    """The images this generator learned from go into the registry before it sells anything:
    from its own folder when it ships them, else from the theme's uploaded set."""
    for folder in (resolve_weights_dir(version.weights_dir), dataset_dir(theme.slug)):
        if (folder / TRAINING_FINGERPRINTS_FILE).is_file():
            values = read_training_fingerprints(folder).as_bytes()
            uniqueness_service.register_training_images(session=session, theme_id=theme.id, values=values)
            return


def publish(*, session: Session, slug: str, model_version_id: uuid.UUID) -> Theme:
    """Make a finished version the theme's generator. Jobs carry their version id and the
    worker keys its warm generators by it (effigies.generation.sampler), so the next job uses
    the new one and jobs already queued finish on the old one: no worker restarts."""
    theme = _locked(session, slug)
    version = session.get(ModelVersion, model_version_id)
    if version is None or version.theme_id != theme.id:
        raise ThemesError("model_version_not_found", "This theme has no such model version.", status=404)
    if not _version_ready(version.weights_dir):
        raise ThemesError("model_version_not_ready", "This model version has no trained generator yet.", status=409)
    _register_training_set(session, theme, version)
    theme.current_model_version_id = version.id
    theme.status = "published"
    session.commit()
    return theme


def retire(*, session: Session, slug: str) -> Theme:
    """No new images (ensure_generating answers 410); in the caller's transaction, which also
    ends the theme's pending offers (effigies.curation.service.retire)."""
    theme = _locked(session, slug)
    if theme.status != "published":
        raise ThemesError("theme_not_published", "Only a published theme can be retired.", status=409)
    theme.status = "retired"
    return theme


def unretire(*, session: Session, slug: str) -> Theme:
    theme = _locked(session, slug)
    if theme.status != "retired":
        raise ThemesError("theme_not_retired", "This theme is not retired.", status=409)
    if theme.current_model_version_id is None:
        raise ThemesError("theme_not_ready", "This theme has no published generator: publish a version instead.", status=409)
    theme.status = "published"
    session.commit()
    return theme


def _listed(slugs: list[str]) -> str:
    return ", ".join(repr(s) for s in slugs)


def set_order(*, session: Session, slugs: list[str]) -> None:
    """The catalogue's order: `slugs` names every theme, whatever its status, exactly once, in the
    order to list them. Anything else is ThemesError (422) naming the problem, and nothing
    changes; otherwise the positions are rewritten (1, 2, ...) and committed together."""
    # Locked: two admins reordering at once are applied one after the other, never interleaved.
    themes = {t.slug: t for t in session.scalars(select(Theme).order_by(Theme.slug).with_for_update())}
    named = set(slugs)
    duplicates = [s for s, n in Counter(slugs).items() if n > 1]
    if duplicates:
        raise ThemesError("duplicate_theme", f"Name each theme once; named more than once: {_listed(duplicates)}.", status=422)
    unknown = [s for s in slugs if s not in themes]
    if unknown:
        raise ThemesError("unknown_theme", f"No theme called {_listed(unknown)}.", status=422)
    missing = [s for s in themes if s not in named]
    if missing:
        raise ThemesError("missing_theme", f"The order must name every theme; missing: {_listed(missing)}.", status=422)
    for position, slug in enumerate(slugs, start=1):
        themes[slug].position = position
    session.commit()
