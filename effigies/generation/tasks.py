from __future__ import annotations

import logging
import uuid

from effigies.config import get_settings
from effigies.db import session_scope
from effigies.generation import boards, jobs, service, showcase
from effigies.generation.events import publish_job_update
from effigies.worker import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="effigies.generation.tasks.generate_candidates", bind=True, max_retries=3)
def generate_candidates(self, job_id: str) -> str:
    try:
        return jobs.run_job(job_id=uuid.UUID(job_id))
    except Exception as exc:  # the person must see "failed", not a job stuck in "running"
        log.exception("generation %s failed", job_id)
        with session_scope() as session:
            service.mark_failed(session=session, job_id=uuid.UUID(job_id), error="The generator failed: please try again.")
        publish_job_update(job_id)  # committed above: a waiting browser may re-read the job
        raise exc


@celery_app.task(name="effigies.generation.tasks.sweep_expired_candidates")
def sweep_expired_candidates() -> dict:
    """Run by Celery beat (effigies.worker.celery_app.conf.beat_schedule)."""
    with session_scope() as session:
        expired, deleted, files = service.expire_candidates(session=session)
    service.delete_candidate_files(files)  # committed first: see expire_candidates
    old_boards = boards.delete_old_boards()
    if expired or deleted or old_boards:
        log.info("candidates: %d expired, %d old rows deleted; %d old boards deleted", expired, deleted, old_boards)
    return {"expired": expired, "deleted": deleted}


@celery_app.task(name="effigies.generation.tasks.recover_generation_jobs")
def recover_generation_jobs() -> dict:
    """Run by Celery beat: jobs whose queue message was lost (Redis restarted without it) are
    sent again, and those pending far too long are failed, so none stays pending forever."""
    settings = get_settings()
    with session_scope() as session:
        stalled, failed = service.recover_jobs(
            session=session, requeue_after_s=settings.generation_requeue_s, give_up_after_s=settings.generation_give_up_s
        )
    for job_id in stalled:  # the sweep committed first: a job failed above is not sent
        generate_candidates.apply_async(args=[str(job_id)])
    for job_id in failed:
        publish_job_update(job_id)
    if stalled or failed:
        log.warning("generation jobs: %d sent to the queue again, %d failed after waiting too long", len(stalled), len(failed))
    return {"requeued": len(stalled), "failed": len(failed)}


@celery_app.task(name="effigies.generation.tasks.make_board")
def make_board(board_id: str) -> str:
    return boards.make_board(board_id=board_id)


@celery_app.task(name="effigies.generation.tasks.refresh_showcase")
def refresh_showcase(slugs: list[str] | None = None) -> dict:
    """The home page's fresh avatars: by the beat every hour, and when the API finds a set missing."""
    return showcase.refresh(slugs=slugs)
