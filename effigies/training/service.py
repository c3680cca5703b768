"""Training runs: start, read, cancel, and the database side of a worker's lease.

Never executed twice: the task message is acknowledged on receipt (Redis never re-delivers a
long run), and a worker trains only while it holds the run's lease, taken in one UPDATE and
renewed by its heartbeat. A run whose lease expired (worker SIGKILLed, machine lost) is put back
in the queue by the beat's sweep and resumes from its last checkpoint. Nothing here imports torch:
the API uses this module too.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from effigies.config import get_settings
from effigies.db import utcnow
from effigies.errors import DomainError
from effigies.themes import service as themes_service
from effigies.training import presets as presets_mod
from effigies.training.models import ACTIVE_STATUSES, TrainingRun

DEFAULT_QUEUE = "train"


log = logging.getLogger(__name__)


class TrainingError(DomainError):
    pass


# --------------------------------------------------------------------------- places on disk
def dataset_dir(slug: str) -> Path:
    return get_settings().data_dir / "datasets" / slug


def run_dir(run_id: uuid.UUID) -> Path:
    return get_settings().data_dir / "training" / str(run_id)


def export_location(slug: str, run_id: uuid.UUID, attempt: int) -> str:
    """A model version's weights folder, as ModelVersion.weights_dir spells it (under the data dir).
    One per attempt: an attempt that lost its lease never overwrites the weights of the one that won."""
    return f"data:models/{slug}/{run_id}-{attempt}"


# --------------------------------------------------------------------------- API side
def start_run(
    *, session: Session, slug: str, preset: str, user_id: uuid.UUID | None, queue: str = DEFAULT_QUEUE,
    overrides: dict[str, Any] | None = None,
) -> TrainingRun:
    """A queued run (not yet sent to the queue: the caller commits, then calls :func:`enqueue`).

    ``overrides`` replace preset options (tests: a narrower net, tighter checkpoints)."""
    settings = get_settings()
    theme = themes_service.get_theme(session=session, slug=slug)
    if theme.status == "retired":
        raise TrainingError("theme_retired", "This theme is retired: un-retire it before training it again.", status=409)
    all_presets = presets_mod.presets(settings)
    if preset not in all_presets:
        raise TrainingError("unknown_preset", f"Unknown preset {preset!r} (choose {', '.join(all_presets)}).", status=422)
    n_images = presets_mod.count_images(dataset_dir(slug))
    if n_images == 0:
        raise TrainingError(
            "dataset_missing",
            f"This theme has no training images yet: upload a zip of images first (expected in datasets/{slug}).",
            status=409,
        )
    if _active_run(session=session, theme_id=theme.id) is not None:
        raise TrainingError("training_in_progress", "This theme is already training: wait for the run or cancel it.", status=409)
    options = presets_mod.training_options(
        all_presets[preset], n_images=n_images, settings=settings, pixel_grid=theme.pixel_grid,
        channels=presets_mod.dataset_channels(dataset_dir(slug)),
        large_images=presets_mod.count_large_images(dataset_dir(slug)), pixel_art=theme.pixel_art,
    )
    options.update(overrides or {})
    run = TrainingRun(
        theme_id=theme.id, preset=preset, status="queued", queue=queue, options=options,
        progress={"phase": "queued", "total": options["total_images"], "images": 0},
        created_by_id=user_id, enqueued_at=utcnow(),
    )
    session.add(run)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # another admin started one in the same instant
        raise TrainingError("training_in_progress", "This theme is already training.", status=409) from None
    themes_service.start_training(session=session, theme_id=theme.id)
    return run


TRAIN_TASK = "effigies.training.tasks.train_run"


def enqueue(run_id: uuid.UUID, queue: str) -> None:
    """Send the run to a train worker (by task name: this module need not import the tasks)."""
    from effigies.worker import celery_app

    celery_app.send_task(TRAIN_TASK, args=[str(run_id)], queue=queue, retry=False)


def submit_run(*, session: Session, slug: str, preset: str, user_id: uuid.UUID | None) -> TrainingRun:
    """start_run, committed (a worker must find it), then sent to the queue. If the queue is down
    the run is failed, committed too, and the admin gets a 503: the theme can be trained again."""
    from kombu.exceptions import OperationalError as BrokerError

    run = start_run(session=session, slug=slug, preset=preset, user_id=user_id)
    session.commit()
    try:
        enqueue(run.id, run.queue)
    except (BrokerError, OSError):
        log.exception("could not queue training run %s", run.id)
        fail_unsent(session=session, run_id=run.id, error="The training queue was unavailable.")
        session.commit()
        raise TrainingError(
            "queue_unavailable", "The training queue is briefly unavailable. Please try again in a moment.", status=503
        ) from None
    return run


def _active_run(*, session: Session, theme_id: uuid.UUID) -> TrainingRun | None:
    return session.scalar(
        select(TrainingRun).where(TrainingRun.theme_id == theme_id, TrainingRun.status.in_(ACTIVE_STATUSES))
    )


def get_run(*, session: Session, run_id: uuid.UUID) -> tuple[TrainingRun, str, Any]:
    """The run, its theme's slug and the model version it made (if any)."""
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise TrainingError("training_run_not_found", "No such training run.", status=404)
    version = themes_service.versions(session=session, ids=[run.model_version_id]).get(run.model_version_id) \
        if run.model_version_id else None
    return run, themes_service.slug_of(session=session, theme_id=run.theme_id), version


def list_runs(*, session: Session, slug: str, limit: int = 50) -> list[tuple[TrainingRun, Any]]:
    """The theme's latest runs, newest first, each with the model version it made (if any)."""
    theme = themes_service.get_theme(session=session, slug=slug)
    runs = list(session.scalars(
        select(TrainingRun).where(TrainingRun.theme_id == theme.id).order_by(TrainingRun.created_at.desc()).limit(limit)
    ))
    versions = themes_service.versions(session=session, ids=[r.model_version_id for r in runs if r.model_version_id])
    return [(r, versions.get(r.model_version_id)) for r in runs]


def request_cancel(*, session: Session, run_id: uuid.UUID) -> TrainingRun:
    """A queued run (or one whose worker is gone) is cancelled at once; a running one stops at its
    worker's next heartbeat, after writing a checkpoint. Cancelling a finished run changes nothing."""
    run = session.get(TrainingRun, run_id, with_for_update=True)
    if run is None:
        raise TrainingError("training_run_not_found", "No such training run.", status=404)
    if run.status not in ACTIVE_STATUSES:
        return run
    run.cancel_requested = True
    expired = run.lease_expires_at is None or run.lease_expires_at < session.scalar(select(func.now()))
    if run.status == "queued" or expired:
        _settle(session=session, run=run, status="cancelled")
    session.commit()
    return run


def fail_unsent(*, session: Session, run_id: uuid.UUID, error: str) -> None:
    """A run that never reached the queue: failed at once, so the theme can be trained again."""
    run = session.get(TrainingRun, run_id, with_for_update=True)
    if run is not None and run.status == "queued":
        _settle(session=session, run=run, status="failed", error=error)


def sample_path(*, run: TrainingRun) -> Path | None:
    """The latest sample grid of the run, only ever a file inside its own folder."""
    name = (run.progress or {}).get("sample")
    if not name:
        return None
    folder = run_dir(run.id).resolve()
    path = (folder / name).resolve()
    if folder not in path.parents or not path.is_file():
        return None
    return path


def _settle(*, session: Session, run: TrainingRun, status: str, error: str | None = None) -> None:
    """End an active run; a theme that was "training" goes back to ready (or draft, with no generator yet)."""
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    run.lease_expires_at = None
    run.progress = {**(run.progress or {}), "phase": status, "eta_s": None}
    themes_service.end_training(session=session, theme_id=run.theme_id)


# --------------------------------------------------------------------------- worker side: the lease
def take_lease(*, session: Session, run_id: uuid.UUID, owner: str, lease_s: float) -> TrainingRun | None:
    """Own the run if it is queued, or running under an expired lease; None when another worker
    holds it or it has ended (a duplicate message is then a no-op)."""
    row = session.execute(
        update(TrainingRun)
        .where(
            TrainingRun.id == run_id,
            TrainingRun.cancel_requested.is_(False),
            (TrainingRun.status == "queued")
            | ((TrainingRun.status == "running") & (TrainingRun.lease_expires_at < func.now())),
        )
        .values(
            status="running", lease_owner=owner, lease_expires_at=func.now() + timedelta(seconds=lease_s),
            heartbeat_at=func.now(), attempts=TrainingRun.attempts + 1,
            started_at=func.coalesce(TrainingRun.started_at, func.now()),
        )
        .returning(TrainingRun.id)
    ).first()
    if row is None:
        return None
    session.expire_all()
    return session.get(TrainingRun, run_id)


def heartbeat(*, session: Session, run_id: uuid.UUID, owner: str, lease_s: float, progress: dict[str, Any]) -> bool | None:
    """Renew the lease and store the progress in one statement. Returns cancel_requested, or None
    when the lease is no longer ours (the caller must stop without exporting)."""
    return session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id, TrainingRun.lease_owner == owner, TrainingRun.status == "running")
        .values(heartbeat_at=func.now(), lease_expires_at=func.now() + timedelta(seconds=lease_s), progress=progress)
        .returning(TrainingRun.cancel_requested)
    ).scalar()


def _owned(*, session: Session, run_id: uuid.UUID, owner: str) -> TrainingRun | None:
    run = session.get(TrainingRun, run_id, with_for_update=True, populate_existing=True)
    if run is None or run.status != "running" or run.lease_owner != owner:
        return None
    return run


def finish(
    *, session: Session, run_id: uuid.UUID, owner: str, attempt: int, slug: str, config: dict[str, Any],
    metrics: dict[str, Any], progress: dict[str, Any],
) -> Any:
    """The one model version (themes.models.ModelVersion, or None) of a run, created in the transaction that marks it done.

    The run row is locked and must still be ours without a version: a worker that lost its lease,
    or a second finish, creates nothing. The theme row is locked too, so version numbers of one
    theme are handed out one at a time."""
    run = _owned(session=session, run_id=run_id, owner=owner)
    if run is None or run.model_version_id is not None:
        return None
    version = themes_service.add_version(
        session=session, theme_id=run.theme_id, weights_dir=export_location(slug, run_id, attempt),
        config=config, metrics=metrics,
    )
    run.model_version_id = version.id
    run.progress = progress
    _settle(session=session, run=run, status="done")
    return version


def stop(*, session: Session, run_id: uuid.UUID, owner: str, status: str, error: str | None = None,
         progress: dict[str, Any] | None = None) -> bool:
    """End a run we own as cancelled or failed; False when it was no longer ours."""
    run = _owned(session=session, run_id=run_id, owner=owner)
    if run is None:
        return False
    if progress is not None:
        run.progress = progress
    _settle(session=session, run=run, status=status, error=error)
    return True


def release(*, session: Session, run_id: uuid.UUID, owner: str, progress: dict[str, Any]) -> str | None:
    """Give a run back to the queue (the worker is shutting down); returns its queue, or None."""
    return session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id, TrainingRun.lease_owner == owner, TrainingRun.status == "running")
        .values(status="queued", lease_owner=None, lease_expires_at=None, enqueued_at=func.now(),
                progress={**progress, "phase": "queued"})
        .returning(TrainingRun.queue)
    ).scalar()


# --------------------------------------------------------------------------- the beat's sweep
def recover(*, session: Session, requeue_after_s: float) -> list[tuple[uuid.UUID, str]]:
    """Runs to send to their queue again: those whose worker's lease expired (put back to queued),
    and queued ones not sent for ``requeue_after_s`` (their message was lost, e.g. the broker was
    down when the run was created). A duplicate message is harmless: the lease makes it a no-op."""
    now = func.now()
    stale = (TrainingRun.status == "running") & (TrainingRun.lease_expires_at < now)
    for run in session.scalars(select(TrainingRun).where(stale, TrainingRun.cancel_requested.is_(True)).with_for_update()):
        _settle(session=session, run=run, status="cancelled")
    requeued = session.execute(
        update(TrainingRun)
        .where(stale, TrainingRun.cancel_requested.is_(False))
        .values(status="queued", lease_owner=None, lease_expires_at=None, enqueued_at=now,
                progress=TrainingRun.progress.op("||")(func.jsonb_build_object("phase", "queued")))
        .returning(TrainingRun.id, TrainingRun.queue)
    ).all()
    lost = session.execute(
        update(TrainingRun)
        .where(
            TrainingRun.status == "queued",
            func.coalesce(TrainingRun.enqueued_at, TrainingRun.created_at) < now - timedelta(seconds=requeue_after_s),
        )
        .values(enqueued_at=now)
        .returning(TrainingRun.id, TrainingRun.queue)
    ).all()
    return [(r.id, r.queue) for r in (*requeued, *lost)]
