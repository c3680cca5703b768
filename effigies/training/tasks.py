from __future__ import annotations

import logging
import uuid

from effigies.config import get_settings
from effigies.db import session_scope
from effigies.training import service
from effigies.worker import celery_app

log = logging.getLogger(__name__)


# acks_late=False, unlike every other task: a run lasts minutes to hours, far past the broker's
# visibility timeout, and Redis would hand a message acknowledged late to a second worker while
# the first still trains. Acknowledged as it starts, a run lost with its worker is sent again by
# recover_training_runs below, and the lease makes any duplicate message a no-op.
@celery_app.task(name="effigies.training.tasks.train_run", acks_late=False, ignore_result=True)
def train_run(run_id: str) -> str:
    from effigies.training import runner

    return runner.execute(uuid.UUID(run_id))


@celery_app.task(name="effigies.training.tasks.recover_training_runs", ignore_result=True)
def recover_training_runs() -> int:
    """Run by Celery beat (effigies.worker): re-queues runs whose worker died, and lost messages."""
    settings = get_settings()
    with session_scope() as session:
        runs = service.recover(session=session, requeue_after_s=settings.training_requeue_s)
    for run_id, queue in runs:  # committed first: the task must find the run queued
        log.info("training run %s: sent to queue %s again", run_id, queue)
        service.enqueue(run_id, queue)
    return len(runs)
