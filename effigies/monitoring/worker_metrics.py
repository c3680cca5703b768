"""What the Celery workers add to the metrics: generation outcomes, images offered, and that they
are alive. Loaded by every worker through effigies.worker's `include`; no effect elsewhere."""
from __future__ import annotations

import logging
import threading
import time
import uuid

import redis
from celery import signals
from sqlalchemy import select

from effigies.monitoring.metrics import RECORDER, WORKERS_KEY, redis_client

log = logging.getLogger(__name__)

GENERATE_TASK = "effigies.generation.tasks.generate_candidates"
OUTCOMES = ("done", "failed", "skipped")  # what generate_candidates returns
PRESENCE_S = 5.0  # well under WORKER_LIVE_S: a live worker never looks dead between two beats
# Names not seen for this long are removed from the set (a worker that died without saying so).
FORGET_S = 600.0


@signals.task_postrun.connect
def _count_generation(sender=None, task=None, args=None, kwargs=None, retval=None, state=None, **_: object) -> None:
    if task is None or task.name != GENERATE_TASK:
        return
    outcome = retval if state == "SUCCESS" and retval in OUTCOMES else "error"
    RECORDER.inc("ee_generation_jobs_total", (("outcome", outcome),))
    if outcome != "done":
        return
    try:
        job_id = uuid.UUID(str((args or [None])[0] or (kwargs or {}).get("job_id")))
        offered = _candidates_count(job_id)
    except Exception:  # a metric must never fail a task; the log says what was missed
        log.exception("images offered by a generation not counted")
        return
    if offered:
        RECORDER.inc("ee_candidates_generated_total", amount=offered)


def _candidates_count(job_id: uuid.UUID) -> int:
    # The job just committed it (effigies.generation.jobs.run_job); one primary-key read.
    from effigies.db import get_engine
    from effigies.generation.models import GenerationJob

    with get_engine().connect() as connection:
        return connection.scalar(select(GenerationJob.candidates_count).where(GenerationJob.id == job_id)) or 0


@signals.worker_ready.connect
def _announce(sender=None, **_: object) -> None:
    """Every PRESENCE_S, the worker's name and the time go into one sorted set: the stats page
    and /metrics count the recent ones with one ZCOUNT, however large Redis's keyspace."""
    name = getattr(sender, "hostname", None) or "worker"
    stop = threading.Event()

    def beat() -> None:
        while True:
            now = time.time()
            try:
                pipe = redis_client().pipeline(transaction=False)
                pipe.zadd(WORKERS_KEY, {name: now})
                pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - FORGET_S)
                pipe.execute()
            except redis.RedisError:
                pass  # the next beat tries again; meanwhile the worker just looks absent
            if stop.wait(PRESENCE_S):
                return

    thread = threading.Thread(target=beat, daemon=True, name="ee-metrics-presence")
    thread.start()

    @signals.worker_shutdown.connect(weak=False)
    def _leave(**_: object) -> None:
        stop.set()
        thread.join(2)  # else a beat in flight could add the name back after it is removed
        RECORDER.flush()
        try:
            redis_client().zrem(WORKERS_KEY, name)
        except redis.RedisError:
            pass
