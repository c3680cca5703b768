"""Themes and their generator versions."""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from effigies.config import get_settings
from effigies.errors import DomainError
from effigies.themes.models import ModelVersion, Theme
from effigies.themes.schemas import SLUG_PATTERN
from effigies.uniqueness import service as uniqueness_service
from effigies.uniqueness.training_set import TRAINING_FINGERPRINTS_FILE, read_training_fingerprints

PACKAGE_DIR = Path(__file__).resolve().parent
_SLUG = re.compile(SLUG_PATTERN)
# How every list of themes is sorted: the admin's order (effigies.themes.admin.set_order), ties by name.
CATALOGUE_ORDER = (Theme.position, Theme.name)
PRETRAINED_DIR = PACKAGE_DIR / "pretrained"


class ThemesError(DomainError):
    """`details`: extra fields for the error body, such as an upload's report of refused entries."""

    def __init__(self, code: str, message: str, *, details: dict | None = None, **kwargs) -> None:
        super().__init__(code, message, **kwargs)
        self.details = dict(details or {})


@dataclass(frozen=True)
class BuiltinTheme:
    slug: str
    name: str
    name_fr: str
    description: str
    description_fr: str
    pixel_art: bool
    attribution: str


# Themes whose generator ships inside the package (`make themes`: datasets, then
# `effigies train --theme SLUG` with effigies/training/recipes.py; a theme whose folder
# has no generator yet is simply not seeded). Listed in the catalogue's first order, most appealing
# first (lowest classifier two-sample accuracy, best SWD against its goal, and by eye); migration
# 0014 gives existing databases the same order, and an admin may change it.
BUILTIN_THEMES = (
    BuiltinTheme(
        slug="pixel-heroes",
        name="Pixel heroes",
        name_fr="Héros en pixels",
        description="Little 8-bit adventurers, pixel by pixel: hair, hats, glasses and bold colours straight out of a retro game. Each one is invented by a generator that learned from 10,000 pixel-art characters.",
        description_fr="De petits aventuriers 8 bits, pixel par pixel : coiffures, chapeaux, lunettes et couleurs franches tout droit sortis d'un jeu rétro. Chacun est inventé par un générateur qui a appris de 10 000 personnages en pixel art.",
        pixel_art=True,
        attribution='The DiceBear "Pixel Art" avatar style (CC0 1.0), rendered with DiceBear (MIT).',
    ),
    BuiltinTheme(
        slug="galactic-droids",
        name="Galactic droids",
        name_fr="Droïdes galactiques",
        description="Robot heads from an intergalactic saga: antennas, visors, bolts. Each one is invented by a generator that learned from 10,000 droids.",
        description_fr="Des têtes de robots tout droit sorties d'une saga intergalactique : antennes, visières, boulons. Chacune est inventée par un générateur qui a appris de 10 000 droïdes.",
        pixel_art=False,
        attribution='"Bottts" by Pablo Stanley (bottts.com), free for personal and commercial use, rendered with DiceBear (MIT).',
    ),
    BuiltinTheme(
        slug="emoji-folk",
        name="Emoji folk",
        name_fr="Peuple émoji",
        description="Round faces full of mood: grins, winks, sulks and surprises. The generator learned from the face emojis of five open emoji sets and mixes them into faces nobody has typed yet.",
        description_fr="Des visages ronds pleins d'humeur : sourires, clins d'œil, bouderies et surprises. Le générateur a appris des émojis de visages de cinq jeux d'émojis libres et les mélange en visages que personne n'a encore tapés.",
        pixel_art=False,
        attribution="Face emojis from Twemoji (CC BY 4.0), Noto Emoji (Apache 2.0), Fluent Emoji (MIT), FxEmoji (Apache 2.0) and EmojiOne 2 (CC BY 4.0).",
    ),
    BuiltinTheme(
        slug="arcane-sigils",
        name="Arcane sigils",
        name_fr="Sceaux arcaniques",
        description="Glowing magic symbols on dark badges, for a guild, a character or a game profile. The generator learned the look of thousands of game icons and draws sigils of its own.",
        description_fr="Des symboles magiques lumineux sur des blasons sombres, pour une guilde, un personnage ou un profil de joueur. Le générateur a appris l'allure de milliers d'icônes de jeu et dessine ses propres sceaux.",
        pixel_art=False,
        attribution="Silhouettes from game-icons.net by Lorc, Delapouite and contributors (CC BY 3.0), recoloured.",
    ),
)


def resolve_weights_dir(weights_dir: str) -> Path:
    """`package:` paths live inside the installed package, `data:` ones under the data dir."""
    kind, _, rest = weights_dir.partition(":")
    if kind == "package":
        return PACKAGE_DIR / rest
    if kind == "data":
        return get_settings().data_dir / rest
    raise ValueError(f"unknown weights location {weights_dir!r}")


def version_drawing(*, session: Session, version_id: uuid.UUID) -> tuple[Path, bool]:
    """(weights folder, pixel art?) of a model version: what a worker needs to draw with it."""
    stored, pixel_art = session.execute(
        select(ModelVersion.weights_dir, Theme.pixel_art)
        .join(Theme, Theme.id == ModelVersion.theme_id)
        .where(ModelVersion.id == version_id)
    ).one()
    return resolve_weights_dir(stored), pixel_art


def is_slug(slug: str) -> bool:
    """Whether `slug` could name a theme at all. Anything else (a NUL byte, which PostgreSQL
    refuses, a 5,000-character path segment) is answered "no such theme" without a query."""
    return _SLUG.match(slug) is not None


def get_theme(*, session: Session, slug: str) -> Theme:
    theme = session.scalar(select(Theme).where(Theme.slug == slug)) if is_slug(slug) else None
    if theme is None:
        raise ThemesError("theme_not_found", f"No theme called {slug!r}.", status=404)
    return theme


def get_visible_theme(*, session: Session, slug: str) -> Theme:
    theme = get_theme(session=session, slug=slug)
    if theme.status not in ("published", "retired"):
        raise ThemesError("theme_not_found", f"No theme called {slug!r}.", status=404)
    return theme


def list_themes(*, session: Session) -> list[Theme]:
    """The catalogue, in the admin's order."""
    return list(session.scalars(select(Theme).where(Theme.status == "published").order_by(*CATALOGUE_ORDER)))


# The one lock order of a theme and what is sold from it: the theme row first, then its
# candidates (then fingerprints, then wallets). Retire, publish and un-retire take the row FOR
# UPDATE and then end offers; a purchase takes it FOR KEY SHARE (many purchases share it, only
# those three wait) before it locks its offer. The avatar it inserts needs that key-share lock
# for its foreign key anyway: taken late, it deadlocked with a retire holding the theme and
# waiting for the offer (2026-12 hostile test, 7 pairs of 8).


@dataclass(frozen=True)
class OnSale:
    name: str
    status: str


def hold_for_sale(*, session: Session, theme_id: uuid.UUID) -> OnSale:
    """Key-share lock on the theme until the caller's transaction ends: it cannot be retired (or
    republished) under a purchase, and its status read here stays true until then."""
    name, status = session.execute(
        select(Theme.name, Theme.status).where(Theme.id == theme_id).with_for_update(read=True, key_share=True)
    ).one()
    return OnSale(name, status)


# Training's side of a theme (effigies.training.service calls these; only themes writes themes'
# rows). Each locks the theme row, so that version numbers are handed out one at a time.


def slug_of(*, session: Session, theme_id: uuid.UUID) -> str:
    return session.get(Theme, theme_id).slug


def start_training(*, session: Session, theme_id: uuid.UUID) -> None:
    """A draft or ready theme shows "training" while a run is active."""
    theme = session.get(Theme, theme_id, with_for_update=True)
    if theme.status in ("draft", "ready"):
        theme.status = "training"


def end_training(*, session: Session, theme_id: uuid.UUID) -> None:
    """A theme that was "training" goes back to ready (or draft, with no generator yet)."""
    theme = session.get(Theme, theme_id, with_for_update=True)
    if theme is not None and theme.status == "training":
        has_version = session.scalar(select(func.count()).select_from(ModelVersion).where(ModelVersion.theme_id == theme.id))
        theme.status = "ready" if has_version else "draft"


def add_version(*, session: Session, theme_id: uuid.UUID, weights_dir: str, config: dict, metrics: dict) -> ModelVersion:
    """The theme's next model version (not yet published)."""
    session.get(Theme, theme_id, with_for_update=True)
    latest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.theme_id == theme_id)) or 0
    version = ModelVersion(theme_id=theme_id, version=latest + 1, weights_dir=weights_dir, config=config, metrics=metrics)
    session.add(version)
    session.flush()
    return version


def versions(*, session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, ModelVersion]:
    if not ids:
        return {}
    return {v.id: v for v in session.scalars(select(ModelVersion).where(ModelVersion.id.in_(ids)))}


def ensure_generating(*, theme: Theme) -> None:
    """A visible theme may still refuse new images: retired, or no generator published yet."""
    if theme.status == "retired":
        raise ThemesError("theme_retired", "This theme has been retired: its avatars can no longer be generated.", status=410)
    if theme.current_model_version_id is None:
        raise ThemesError("theme_not_ready", "This theme has no trained generator yet.", status=409)


def sample_grid_path(*, session: Session, theme: Theme) -> Path | None:
    if theme.current_model_version_id is None:
        return None
    version = session.get(ModelVersion, theme.current_model_version_id)
    path = resolve_weights_dir(version.weights_dir) / "samples.png"
    return path if path.is_file() else None


def current_metrics(*, session: Session, theme: Theme) -> dict | None:
    """The current generator's measured quality (from `effigies eval`), or None before any evaluation."""
    if theme.current_model_version_id is None:
        return None
    version = session.get(ModelVersion, theme.current_model_version_id)
    if version is None or not version.metrics:
        return None
    return version.metrics


def _shipped_metrics(weights: Path, config: dict) -> dict | None:
    """metrics.json of a shipped folder, if it was measured on these very weights (a stale one would mislead)."""
    path = weights / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    if metrics.get("generator_sha256") not in (None, config.get("weights_sha256")):
        return None
    return metrics


def seed_builtin_themes(*, session: Session) -> None:
    """Create the shipped themes and register their generator; safe to run at every start."""
    for position, spec in enumerate(BUILTIN_THEMES, start=1):
        weights = PRETRAINED_DIR / spec.slug
        if not (weights / "generator.safetensors").is_file():
            continue
        theme = session.scalar(select(Theme).where(Theme.slug == spec.slug))
        if theme is None:
            theme = Theme(
                slug=spec.slug,
                name=spec.name,
                name_fr=spec.name_fr,
                description=spec.description,
                description_fr=spec.description_fr,
                pixel_art=spec.pixel_art,
                status="published",
                # Only when created: the order an admin set since stays.
                position=position,
            )
            session.add(theme)
            session.flush()
        config = json.loads((weights / "generator.json").read_text())
        weights_dir = f"package:pretrained/{spec.slug}"
        # A new shipped generator (different config/metadata) becomes a new version.
        latest = session.scalar(
            select(ModelVersion).where(ModelVersion.theme_id == theme.id).order_by(ModelVersion.version.desc()).limit(1)
        )
        if latest is None or latest.weights_dir != weights_dir or latest.config != config:
            latest = ModelVersion(
                theme_id=theme.id,
                version=(latest.version + 1) if latest else 1,
                weights_dir=weights_dir,
                config=config,
            )
            session.add(latest)
            session.flush()
            if theme.status != "retired":
                theme.current_model_version_id = latest.id
        metrics = _shipped_metrics(weights, config)
        if metrics is not None and latest.metrics != metrics:
            latest.metrics = metrics
        # The sale filter refuses near-copies of training images; the images don't ship, their fingerprints do.
        if (weights / TRAINING_FINGERPRINTS_FILE).is_file():
            uniqueness_service.register_training_images(
                session=session, theme_id=theme.id, values=read_training_fingerprints(weights).as_bytes()
            )
        # One sentence for the UI; the full notice stays in ATTRIBUTION.txt next to the weights.
        theme.attribution = spec.attribution
