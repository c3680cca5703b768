"""Generation jobs: queued by the API, run by a worker, each yielding unique candidates."""
from __future__ import annotations

import os
import secrets
import time
import uuid
from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from effigies.config import get_settings
from effigies.db import session_scope, utcnow
from effigies.errors import DomainError
from effigies.generation.events import publish_job_update
from effigies.generation.models import Candidate, GenerationJob
from effigies.themes import service as themes_service
from effigies.themes.models import ModelVersion, Theme
from effigies.uniqueness import service as uniqueness_service
from effigies.uniqueness.fingerprint import fingerprint, hamming


class GenerationError(DomainError):
    pass


def create_job(*, session: Session, user_id: uuid.UUID, slug: str, count: int) -> GenerationJob:
    theme = themes_service.get_visible_theme(session=session, slug=slug)
    version = themes_service.current_model_version(session=session, theme=theme)
    job = GenerationJob(
        user_id=user_id,
        theme_id=theme.id,
        model_version_id=version.id,
        count=count,
        seed=secrets.randbits(62),
        status="queued",
    )
    session.add(job)
    session.flush()
    return job


def get_job(*, session: Session, job_id: uuid.UUID, user_id: uuid.UUID) -> tuple[GenerationJob, Theme, list[Candidate]]:
    job = session.get(GenerationJob, job_id)
    if job is None or job.user_id != user_id:
        raise GenerationError("generation_not_found", "No such generation.", status=404)
    candidates = list(session.scalars(select(Candidate).where(Candidate.job_id == job.id).order_by(Candidate.position)))
    return job, session.get(Theme, job.theme_id), candidates


def mark_failed(*, session: Session, job_id: uuid.UUID, error: str) -> None:
    job = session.get(GenerationJob, job_id, with_for_update=True)
    if job is not None and job.status in ("queued", "running"):
        job.status = "failed"
        job.error = error
        job.finished_at = utcnow()


def candidate_for_user(*, session: Session, candidate_id: uuid.UUID, user_id: uuid.UUID) -> Candidate:
    candidate = session.get(Candidate, candidate_id)
    if candidate is None or candidate.user_id != user_id:
        raise GenerationError("candidate_not_found", "No such candidate.", status=404)
    return candidate


def ensure_offered(candidate: Candidate) -> None:
    """An expired proposal is gone for good: its preview answers 410 like its purchase."""
    if candidate.status == "expired" or (candidate.status == "offered" and candidate.expires_at <= utcnow()):
        raise GenerationError("candidate_expired", "This proposal has expired: generate new ones.", status=410)


# Expired rows stay this long (a late purchase gets 410 "expired", not 404) before they go.
EXPIRED_ROW_RETENTION = timedelta(days=7)


def expire_candidates(*, session: Session) -> tuple[int, int, list[str]]:
    """Mark offered candidates past their TTL "expired"; delete expired rows older than
    EXPIRED_ROW_RETENTION. Returns (expired now, rows deleted, image files to delete).

    The caller deletes the files with delete_candidate_files *after* committing, so a rolled
    back sweep never leaves an offered candidate without its image; the files of deleted rows
    are listed again, a second chance for any left behind by a crash in between. Safe to run
    twice and beside purchases: the UPDATE only takes rows still "offered" (a purchase holding
    the row lock commits first, then PostgreSQL re-checks the condition and skips the sold row).
    """
    now = utcnow()
    expired = session.execute(
        update(Candidate)
        .where(Candidate.status == "offered", Candidate.expires_at <= now)
        .values(status="expired")
        .returning(Candidate.image_path)
    ).scalars().all()
    deleted = session.execute(
        delete(Candidate)
        .where(Candidate.status == "expired", Candidate.expires_at <= now - EXPIRED_ROW_RETENTION)
        .returning(Candidate.image_path)
    ).scalars().all()
    return len(expired), len(deleted), [*expired, *deleted]


def delete_candidate_files(paths: list[str]) -> None:
    images = get_settings().images_dir
    for relative in paths:
        (images / relative).unlink(missing_ok=True)


def candidate_image_path(candidate: Candidate) -> Path:
    return get_settings().images_dir / candidate.image_path


def _write_png(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    image.save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)


def _fresh_candidates(
    *, version_id: str, weights_dir: Path, count: int, seed: int
) -> tuple[list[tuple[Image.Image, bytes]], int]:
    """Up to `count` images whose fingerprints are far from every registered one and from each
    other; also returns how many were refused as near-copies."""
    from effigies.generation import sampler  # torch is only imported where images are made

    settings = get_settings()
    radius = settings.uniqueness_radius
    accepted: list[tuple[Image.Image, bytes]] = []
    rejected = 0
    for attempt in range(settings.generation_max_tries):
        need = count - len(accepted)
        if need <= 0:
            break
        # Two spare images: with the 256-bit fingerprint a refusal is rare (README, capacity),
        # and a spare costs less than another round through the batcher.
        batch = sampler.generate(
            version_id, weights_dir, n=need + 2, seed=(seed + attempt) % (1 << 63),
            max_batch=settings.generation_max_batch, max_wait_s=settings.generation_max_wait_ms / 1000,
        )
        with session_scope() as session:
            for array in batch:
                if len(accepted) == count:
                    break
                image = Image.fromarray(array, mode="RGB")
                value = fingerprint(image)
                if any(hamming(value, other) <= radius for _, other in accepted) or uniqueness_service.is_taken(
                    session=session, value=value, radius=radius
                ):
                    rejected += 1
                    continue
                accepted.append((image, value))
    return accepted, rejected


def run_job(*, job_id: uuid.UUID) -> str:
    """The worker's side. Safe to run twice, even at the same time: the job's seed fixes its
    images, files are written under deterministic names, and candidates are inserted once, in
    the final transaction, by whichever run locks the job row first."""
    settings = get_settings()
    with session_scope() as session:
        job = session.get(GenerationJob, job_id, with_for_update=True)
        if job is None or job.status in ("done", "failed"):
            return "skipped"
        job.status = "running"
        job.started_at = job.started_at or utcnow()
        version = session.get(ModelVersion, job.model_version_id)
        version_id, weights_dir = str(version.id), themes_service.resolve_weights_dir(version.weights_dir)
        count, seed, theme_id = job.count, job.seed, job.theme_id
    if settings.generation_test_delay_s:
        time.sleep(settings.generation_test_delay_s)  # EE_ENV=test only: lets a test kill a worker mid-job

    accepted, rejected = _fresh_candidates(version_id=version_id, weights_dir=weights_dir, count=count, seed=seed)
    expires_at = utcnow() + timedelta(minutes=settings.candidate_ttl_minutes)
    with session_scope() as session:
        job = session.get(GenerationJob, job_id, with_for_update=True)
        if job.status in ("done", "failed"):
            return "skipped"
        for position, (image, value) in enumerate(accepted):
            relative = f"candidates/{job_id}/{position}.png"
            _write_png(image, settings.images_dir / relative)
            session.add(
                Candidate(
                    job_id=job_id,
                    position=position,
                    user_id=job.user_id,
                    theme_id=theme_id,
                    model_version_id=job.model_version_id,
                    fingerprint=value,
                    image_path=relative,
                    expires_at=expires_at,
                )
            )
        job.rejected_near_duplicates = rejected
        job.finished_at = utcnow()
        if accepted:
            job.status = "done"
        else:
            job.status = "failed"
            job.error = "Every image came out too close to an avatar already sold: try again."
        status = job.status
    # Only once committed: the browser's event stream re-reads the job when told.
    publish_job_update(job_id)
    return status
