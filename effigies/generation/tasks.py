from __future__ import annotations

import logging
import time
import uuid

from effigies.config import get_settings
from effigies.db import session_scope
from effigies.generation import boards, fairqueue, jobs, service, showcase
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
    # Straight to a worker, past the fair queue: these waited a minute already, their item was
    # most likely lost with Redis's data, and if it is still there it runs as "skipped".
    for job_id in stalled:  # the sweep committed first: a job failed above is not sent
        generate_candidates.apply_async(args=[str(job_id)])
    for job_id in failed:
        publish_job_update(job_id)
    # Items of workers that died (their leases ran out) go back to their owners' lists, and
    # owners who are due get a worker, in case their wake-up message was lost.
    reclaimed, due = fairqueue.reclaim()
    for _ in range(min(due, 16)):
        _wake(fairqueue.LANE)
    if stalled or failed or reclaimed:
        log.warning("generation jobs: %d sent to the queue again, %d failed after waiting too long, %d items of "
                    "dead workers put back", len(stalled), len(failed), reclaimed)
    return {"requeued": len(stalled), "failed": len(failed), "reclaimed": reclaimed}


@celery_app.task(name="effigies.generation.tasks.make_board")
def make_board(board_id: str) -> str:
    return boards.make_board(board_id=board_id)


_RUNNERS = {"job": generate_candidates, "board": make_board}


def _wake(lane: str) -> None:
    """Best effort: a wake-up lost here is made up by the next one, or by the beat's sweep."""
    try:
        service.enqueue(fairqueue.SERVE_TASK, lane, what="a wake-up", queue=lane)
    except service.GenerationError:
        pass  # logged by enqueue


@celery_app.task(name=fairqueue.SERVE_TASK)
def serve_generation(lane: str = fairqueue.LANE) -> dict:
    """A wake-up (effigies.generation.fairqueue): serve the items due, the person least served
    first, one at a time, until none is due or serve_seconds() have passed (then leave a new
    wake-up behind). Each item runs as its own task, in this thread (`apply`: the same code, the
    same metrics), and is released whatever happened to it: run_job marks a failed job failed."""
    deadline = time.monotonic() + fairqueue.serve_seconds()
    served = 0
    while True:
        item, due = fairqueue.pop(lane)
        if due:  # more people are due than this thread can serve now: wake another worker
            _wake(lane)
        if item is None:
            break
        try:
            with fairqueue.running(item):
                _RUNNERS[item.kind].apply(args=[item.id])
        finally:
            fairqueue.done(item, lane)
        served += 1
        if time.monotonic() >= deadline:
            _wake(lane)
            break
    return {"served": served}


@celery_app.task(name="effigies.generation.tasks.refresh_showcase")
def refresh_showcase(slugs: list[str] | None = None) -> dict:
    """The home page's fresh avatars: by the beat every hour, and when the API finds a set missing."""
    return showcase.refresh(slugs=slugs)
