"""Generation jobs: queued by the API, run by a worker, each yielding unique candidates.

This package alone writes generation_jobs and candidates: a purchase takes an offer through
lock_offer / mark_sold, retiring a theme ends its offers through expire_offers."""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import redis
from sqlalchemy import delete, false, func, select, update
from sqlalchemy.orm import Session

from effigies.config import get_settings
from effigies.db import utcnow
from effigies.errors import DomainError
from effigies.generation import fairqueue
from effigies.generation.models import Candidate, GenerationJob
from effigies.themes import service as themes_service
from effigies.themes.models import Theme


log = logging.getLogger(__name__)
QUEUE_UNAVAILABLE = "Generation is briefly unavailable. Please try again in a moment."


class GenerationError(DomainError):
    pass


def enqueue(task_name: str, *args: str, what: str, queue: str | None = None) -> None:
    """Send a task to the generate workers (routed by name, effigies.worker, unless `queue` says);
    a broker that is down becomes a 503 the person can retry."""
    from kombu.exceptions import OperationalError as BrokerError

    from effigies.worker import celery_app

    try:
        celery_app.send_task(task_name, args=list(args), retry=False, **({"queue": queue} if queue else {}))
    except (BrokerError, OSError):
        log.exception("could not queue %s", what)
        raise GenerationError("queue_unavailable", QUEUE_UNAVAILABLE, status=503) from None


def submit_item(*, owner: str, kind: str, item_id: str, images: int, lane: str = fairqueue.LANE) -> None:
    """Queue a job or a board in its owner's turn (effigies.generation.fairqueue) and wake a
    worker if the owner was not due yet; Redis down is a 503, like the broker."""
    try:
        wake = fairqueue.push(owner=owner, kind=kind, item_id=item_id, images=images, lane=lane)
    except redis.RedisError:
        log.exception("could not queue %s %s", kind, item_id)
        raise GenerationError("queue_unavailable", QUEUE_UNAVAILABLE, status=503) from None
    if wake:
        enqueue(fairqueue.SERVE_TASK, lane, what=f"{kind} {item_id}", queue=lane)


# ---------------------------------------------------------------------------- owners
# A job and its candidates are a person's (user_id) or a visitor's: someone without an account,
# known by the random id of their ee_visitor cookie (effigies.generation.router). That id is a
# bearer secret (whoever holds it sees the proposals and can take them into an account), so
# only its SHA-256 is stored, like a session token. Every function below that reads or acts on
# someone's jobs or candidates takes `user_id` or `visitor` (the cookie's value), never both.

_VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32), as new_visitor_id makes


def new_visitor_id() -> str:
    return secrets.token_urlsafe(32)


def valid_visitor_id(value: str | None) -> bool:
    """Only ids of the form we hand out: a cookie set by anything else is no visitor."""
    return value is not None and _VISITOR_ID.fullmatch(value) is not None


def visitor_key(visitor: str) -> str:
    """What the database holds for a visitor id."""
    return hashlib.sha256(visitor.encode()).hexdigest()


def _owner(user_id: uuid.UUID | None, visitor: str | None) -> tuple[uuid.UUID | None, str | None]:
    """(user_id, stored visitor key): exactly one set; (None, None) when the caller is nobody."""
    if user_id is not None and visitor is not None:
        raise ValueError("a person or a visitor, not both")
    if user_id is not None:
        return user_id, None
    return None, visitor_key(visitor) if valid_visitor_id(visitor) else None


def _owns(row, user_id: uuid.UUID | None, visitor: str | None) -> bool:
    """Whether this job or candidate is the caller's: a person's rows are never a visitor's."""
    user_id, key = _owner(user_id, visitor)
    if user_id is not None:
        return row.user_id == user_id
    return key is not None and row.user_id is None and row.visitor == key


def _owned_by(model, user_id: uuid.UUID | None, visitor: str | None):
    """The SQL condition for the caller's rows (matching none when the caller is nobody)."""
    user_id, key = _owner(user_id, visitor)
    if user_id is not None:
        return model.user_id == user_id
    return (model.visitor == key) & model.user_id.is_(None) if key is not None else false()


def submit_job(
    *, session: Session, slug: str, count: int, user_id: uuid.UUID | None = None, visitor: str | None = None,
) -> uuid.UUID:
    """Create the job, commit it (a worker must find it), queue it. If the queue is down the job
    is marked failed, committed too, and the person gets a 503: no job stays queued forever."""
    job = create_job(session=session, user_id=user_id, visitor=visitor, slug=slug, count=count)
    job_id, owner = job.id, fairqueue.owner_key(user_id=job.user_id, visitor_key=job.visitor)
    session.commit()
    try:
        submit_item(owner=owner, kind="job", item_id=str(job_id), images=count)
    except GenerationError:
        mark_failed(session=session, job_id=job_id, error="The generation queue is unavailable.")
        session.commit()
        raise
    return job_id


def create_job(
    *, session: Session, slug: str, count: int, user_id: uuid.UUID | None = None, visitor: str | None = None,
) -> GenerationJob:
    user_id, key = _owner(user_id, visitor)
    if user_id is None and key is None:
        raise ValueError("a job needs an owner")
    theme = themes_service.get_visible_theme(session=session, slug=slug)
    themes_service.ensure_generating(theme=theme)
    job = GenerationJob(
        user_id=user_id,
        visitor=key,
        theme_id=theme.id,
        model_version_id=theme.current_model_version_id,
        count=count,
        seed=secrets.randbits(62),
        status="queued",
    )
    session.add(job)
    session.flush()
    return job


def get_job(
    *, session: Session, job_id: uuid.UUID, user_id: uuid.UUID | None = None, visitor: str | None = None,
) -> tuple[GenerationJob, str, list[Candidate]]:
    """The caller's job, its theme's slug and its candidates (which only a finished job has)."""
    row = session.execute(
        select(GenerationJob, Theme.slug).join(Theme, Theme.id == GenerationJob.theme_id).where(GenerationJob.id == job_id)
    ).one_or_none()
    if row is None or not _owns(row[0], user_id, visitor):
        raise GenerationError("generation_not_found", "No such generation.", status=404)
    job, slug = row
    candidates = []
    if job.status == "done":
        candidates = list(session.scalars(select(Candidate).where(Candidate.job_id == job.id).order_by(Candidate.position)))
    return job, slug, candidates


def mark_failed(*, session: Session, job_id: uuid.UUID, error: str) -> None:
    job = session.get(GenerationJob, job_id, with_for_update=True)
    if job is not None and job.status in ("queued", "running"):
        job.status = "failed"
        job.error = error
        job.finished_at = utcnow()


LOST_JOB_ERROR = "This generation was lost in an outage on our side: please try again."


def recover_jobs(*, session: Session, requeue_after_s: float, give_up_after_s: float) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(jobs to send to the queue again, jobs just marked failed), for the beat's sweep.

    A job takes about a second, so one still queued or running after ``requeue_after_s`` has
    most likely lost its queue message: Redis restarted without it, or with the unacknowledged
    copy of a dead worker's. Sending it again is harmless (run_job is idempotent on the job id).
    A job still pending after ``give_up_after_s`` is failed instead, with a message the person
    sees: nobody waits that long, and re-sending forever would fill a queue nobody consumes."""
    now = func.now()
    pending = GenerationJob.status.in_(("queued", "running"))
    failed = session.scalars(
        update(GenerationJob)
        .where(pending, GenerationJob.created_at < now - timedelta(seconds=give_up_after_s))
        .values(status="failed", error=LOST_JOB_ERROR, finished_at=now)
        .returning(GenerationJob.id)
    ).all()
    cutoff = now - timedelta(seconds=requeue_after_s)
    stalled = session.scalars(
        select(GenerationJob.id).where(
            pending,
            func.coalesce(GenerationJob.started_at, GenerationJob.created_at) < cutoff,
        )
    ).all()
    return list(stalled), list(failed)


@dataclass(frozen=True)
class Offer:
    """A proposal as a purchase sees it: a copy, so the buyer's domain never holds our rows."""

    id: uuid.UUID
    user_id: uuid.UUID  # lock_offer only hands out a person's offers: a visitor buys nothing
    theme_id: uuid.UUID
    model_version_id: uuid.UUID
    fingerprint: bytes
    image_path: str
    status: str  # offered | sold | expired
    expires_at: datetime

    @property
    def expired(self) -> bool:
        return self.status == "expired" or (self.status == "offered" and self.expires_at <= utcnow())


def theme_of_offer(*, session: Session, candidate_id: uuid.UUID) -> uuid.UUID | None:
    """The theme a proposal was drawn from (it never changes), read without a lock: a purchase
    locks that theme before the offer (effigies.themes.service.hold_for_sale)."""
    return session.scalar(select(Candidate.theme_id).where(Candidate.id == candidate_id))


def lock_offer(*, session: Session, candidate_id: uuid.UUID, user_id: uuid.UUID) -> Offer | None:
    """The person's proposal, row-locked until the caller's transaction ends (two purchases of
    it run one after the other); None if it does not exist or is someone else's."""
    c = session.get(Candidate, candidate_id, with_for_update=True, populate_existing=True)
    if c is None or user_id is None or not _owns(c, user_id, None):
        return None
    return Offer(c.id, c.user_id, c.theme_id, c.model_version_id, c.fingerprint, c.image_path, c.status, c.expires_at)


def mark_sold(*, session: Session, candidate_id: uuid.UUID) -> None:
    """In the purchase's transaction, under lock_offer's lock."""
    session.execute(update(Candidate).where(Candidate.id == candidate_id).values(status="sold")
                    .execution_options(synchronize_session=False))


def expire_offers(*, session: Session, theme_id: uuid.UUID) -> list[str]:
    """End every pending offer of a theme now (it is being retired); returns their image paths,
    for the caller to delete once committed (delete_candidate_files), as the sweeper does.
    A purchase holding an offer's row lock commits first and this skips the sold row; offers a
    worker commits after this are refused at purchase anyway (the theme is retired). expires_at
    moves to now so the sweeper's retention clock starts today."""
    return list(session.execute(
        update(Candidate)
        .where(Candidate.theme_id == theme_id, Candidate.status == "offered")
        .values(status="expired", expires_at=func.least(Candidate.expires_at, func.now()))
        .returning(Candidate.image_path)
        .execution_options(synchronize_session=False)
    ).scalars())


def rejected_by_theme(*, session: Session, theme_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Images refused as near-copies of a sold avatar or a training image, per theme (admin overview)."""
    return dict(session.execute(
        select(GenerationJob.theme_id, func.coalesce(func.sum(GenerationJob.rejected_near_duplicates), 0))
        .where(GenerationJob.theme_id.in_(theme_ids))
        .group_by(GenerationJob.theme_id)
    ).all())


# A theme page shows this many of the person's proposals at most (a few regenerations' worth).
PROPOSALS_SHOWN = 48


def list_offers(
    *, session: Session, user_id: uuid.UUID | None = None, visitor: str | None = None,
    theme_id: uuid.UUID | None = None, limit: int = PROPOSALS_SHOWN,
) -> list[tuple[Candidate, str]]:
    """The person's (or visitor's) proposals still for sale (offered, not expired), newest
    generation first and in their order within it, with their theme's slug: what a reload or
    another device shows."""
    query = (
        select(Candidate, Theme.slug).join(Theme, Theme.id == Candidate.theme_id)
        .where(_owned_by(Candidate, user_id, visitor), Candidate.status == "offered", Candidate.expires_at > func.now())
        .order_by(Candidate.created_at.desc(), Candidate.job_id, Candidate.position)
        .limit(limit)
    )
    if theme_id is not None:
        query = query.where(Candidate.theme_id == theme_id)
    return [(candidate, slug) for candidate, slug in session.execute(query).all()]


def candidate_for_user(
    *, session: Session, candidate_id: uuid.UUID, user_id: uuid.UUID | None = None, visitor: str | None = None,
) -> Candidate:
    candidate = session.get(Candidate, candidate_id)
    if candidate is None or not _owns(candidate, user_id, visitor):
        raise GenerationError("candidate_not_found", "No such candidate.", status=404)
    return candidate


def adopt_visitor(*, session: Session, visitor: str | None, user_id: uuid.UUID) -> int:
    """In the sign-up's or log-in's transaction (the caller commits): the visitor's jobs still
    running and their offered, unexpired candidates (with the jobs they came from) become the
    account's. Expired or failed ones stay behind, the visitor's, until the sweeper takes them.
    Returns how many candidates moved.

    Beside a worker finishing one of these jobs: its last transaction locks the job row and
    reads the owner then (run_job). Either that comes first, and the candidates it commits are
    seen by the UPDATE of candidates below (a fresh snapshot per statement), or the first UPDATE
    below holds the job row and the worker writes the account's id."""
    _, key = _owner(None, visitor)
    return 0 if key is None else adopt_visitor_key(session=session, key=key, user_id=user_id)


def adopt_visitor_key(*, session: Session, key: str, user_id: uuid.UUID) -> int:
    """adopt_visitor by the stored key (the id's SHA-256) rather than the id itself: a sign-up
    link opened in another browser still brings the proposals of the one that signed up."""
    session.execute(
        update(GenerationJob)
        .where(GenerationJob.visitor == key, GenerationJob.status.in_(("queued", "running")))
        .values(user_id=user_id, visitor=None)
        .execution_options(synchronize_session=False)
    )
    moved = session.scalars(
        update(Candidate)
        .where(Candidate.visitor == key, Candidate.status == "offered", Candidate.expires_at > func.now())
        .values(user_id=user_id, visitor=None)
        .returning(Candidate.job_id)
        .execution_options(synchronize_session=False)
    ).all()
    if jobs := set(moved):
        session.execute(
            update(GenerationJob)
            .where(GenerationJob.visitor == key, GenerationJob.id.in_(jobs))
            .values(user_id=user_id, visitor=None)
            .execution_options(synchronize_session=False)
        )
    return len(moved)


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
        preview_of(images / relative).unlink(missing_ok=True)
        (images / relative).with_suffix(".preview.jpg").unlink(missing_ok=True)  # written until issue 15


def candidate_image_path(candidate: Candidate) -> Path:
    return get_settings().images_dir / candidate.image_path


def preview_of(image_path: Path) -> Path:
    """Where the marked preview of a candidate's clean file lies (written by jobs.run_job)."""
    return image_path.with_suffix(".preview.webp")
