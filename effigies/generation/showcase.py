"""The home page's showcase: a few fresh avatars of every published theme, large, redrawn every hour.

A visitor's first screen should show what the shop sells, at the size they would use it, not a
grid of 64 px thumbnails. The worker draws SHOWCASE_COUNT images per theme with the theme's
current generator, through the same filter as a candidate (far from every sold avatar and
training image, and from each other), makes their 256 px masters (the trained upscaler, or blocks
for pixel art: effigies.generation.master) and writes them as WebP with their alpha, unmarked
(they are shown, never sold). The page picks one per theme at random from the set, so each
visit looks fresh without drawing anything per request.

Files: <images>/showcase/<slug>/<set>-<k>.webp and index.json naming the current set, its model
version and when it was drawn. A new set is written before the index points at it, and the set
before the previous one is deleted after, so a page that loaded the previous index still finds
its images. Safe to run twice, even at the same time: each run writes its own set and the index
is replaced atomically; the loser's files are swept by the next refresh.

The API side (`current`, `image_path`) only reads files; a missing or stale set is asked for
through the queue (`refresh_wanted`), at most once a minute per process and theme.
"""
from __future__ import annotations

import io
import json
import logging
import re
import secrets
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from effigies.config import get_settings
from effigies.db import session_scope, utcnow
from effigies.themes import service as themes_service

log = logging.getLogger(__name__)

SHOWCASE_COUNT = 8
INDEX = "index.json"
_FILE = re.compile(r"[0-9a-f]{12}-[0-9]{1,2}\.webp")
# Lossy with alpha, as the candidates' previews: ~15-30 kB at 256 px; pixel art lossless (blocks).
WEBP_QUALITY = 88


@dataclass(frozen=True)
class Showcase:
    slug: str
    files: list[str]  # names under showcase_dir(slug), empty before the first set is drawn
    model_version_id: str | None
    drawn_at: float | None  # epoch seconds

    def stale(self, *, version_id: uuid.UUID | None, max_age_s: float, now: float) -> bool:
        return (not self.files or self.model_version_id != (str(version_id) if version_id else None)
                or self.drawn_at is None or now - self.drawn_at >= max_age_s)


def showcase_dir(slug: str) -> Path:
    return get_settings().images_dir / "showcase" / slug


def read_index(slug: str) -> Showcase:
    try:
        data = json.loads((showcase_dir(slug) / INDEX).read_text(encoding="utf-8"))
        files = [f for f in data["files"] if isinstance(f, str) and _FILE.fullmatch(f)]
        return Showcase(slug, files, data.get("model_version_id"), float(data["drawn_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Showcase(slug, [], None, None)


def image_path(slug: str, name: str) -> Path | None:
    """The file of one showcase image, or None for a name that is not one (no path tricks)."""
    if not themes_service.is_slug(slug) or not _FILE.fullmatch(name):
        return None
    path = showcase_dir(slug) / name
    return path if path.is_file() else None


def current(*, session: Session) -> list[tuple[object, Showcase]]:
    """(theme, its showcase) for every published theme, in the themes' order; sets that are
    missing or stale are asked of the worker (the page shows the old ones meanwhile)."""
    settings = get_settings()
    now = time.time()
    out, stale = [], []
    for theme in themes_service.list_themes(session=session):
        shown = read_index(theme.slug)
        out.append((theme, shown))
        if theme.current_model_version_id is not None and shown.stale(
            version_id=theme.current_model_version_id, max_age_s=settings.showcase_refresh_s, now=now
        ):
            stale.append(shown)
    if stale:
        refresh_wanted(stale)
    return out


# slug -> (the stale set's drawn_at, when it was asked for): one request per stale set, again
# after a minute if the worker has not drawn it (the message may have been lost).
_asked: dict[str, tuple[float | None, float]] = {}


def refresh_wanted(stale: list[Showcase]) -> None:
    """Ask the worker for new sets (API side). Quietly gives up when the queue is down: the page
    shows the previous set, or the sample grid, meanwhile."""
    now = time.monotonic()
    due = [s for s in stale if s.slug not in _asked or _asked[s.slug][0] != s.drawn_at
           or now - _asked[s.slug][1] >= 60]
    if not due:
        return
    from kombu.exceptions import OperationalError as BrokerError

    from effigies.worker import celery_app

    try:
        celery_app.send_task("effigies.generation.tasks.refresh_showcase", args=[[s.slug for s in due]], retry=False)
    except (BrokerError, OSError):
        log.warning("could not ask for a new showcase of %s", ", ".join(s.slug for s in due))
        return
    for s in due:
        _asked[s.slug] = (s.drawn_at, now)


# ---------------------------------------------------------------------------- the worker's side


def refresh(*, slugs: list[str] | None = None, force: bool = False) -> dict[str, int]:
    """Draw a new set for each published theme (of ``slugs``, if given) whose set is missing,
    older than EE_SHOWCASE_REFRESH_S or from another model version. Returns {slug: images drawn}."""
    from effigies.generation.jobs import fresh_candidates, version_weights
    from effigies.generation.master import make_master

    settings = get_settings()
    now = time.time()
    with session_scope() as session:
        todo = []
        for theme in themes_service.list_themes(session=session):
            if slugs is not None and theme.slug not in slugs or theme.current_model_version_id is None:
                continue
            shown = read_index(theme.slug)
            if force or shown.stale(version_id=theme.current_model_version_id,
                                    max_age_s=settings.showcase_refresh_s, now=now):
                weights_dir, pixel_art = version_weights(session, theme.current_model_version_id)
                todo.append((theme.slug, theme.current_model_version_id, weights_dir, pixel_art, shown))
    drawn: dict[str, int] = {}
    for slug, version_id, weights_dir, pixel_art, previous in todo:
        accepted, _ = fresh_candidates(
            version_id=str(version_id), weights_dir=weights_dir, count=SHOWCASE_COUNT, seed=secrets.randbits(62)
        )
        folder = showcase_dir(slug)
        folder.mkdir(parents=True, exist_ok=True)
        set_id = secrets.token_hex(6)
        names = []
        for k, (image, _) in enumerate(accepted):
            master = make_master(image, pixel_art=pixel_art, weights_dir=weights_dir)
            buffer = io.BytesIO()
            if pixel_art:
                master.save(buffer, format="WEBP", lossless=True, quality=100, method=0)
            else:
                master.save(buffer, format="WEBP", quality=WEBP_QUALITY, alpha_quality=100, method=4)
            name = f"{set_id}-{k}.webp"
            _atomic_write(folder / name, buffer.getvalue())
            names.append(name)
        index = {"files": names, "model_version_id": str(version_id), "drawn_at": time.time(),
                 "drawn_at_iso": utcnow().isoformat(timespec="seconds")}
        _atomic_write(folder / INDEX, json.dumps(index).encode("utf-8"))
        _sweep(folder, keep=set(names) | set(previous.files))
        drawn[slug] = len(names)
    if drawn:
        log.info("showcase drawn: %s", ", ".join(f"{s} {n}" for s, n in drawn.items()))
    return drawn


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _sweep(folder: Path, *, keep: set[str]) -> None:
    """Every image but the current set and the previous one (pages may still show those)."""
    for path in folder.iterdir():
        if path.name == INDEX or path.name in keep or path.name.startswith("."):  # "." : a write under way
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
