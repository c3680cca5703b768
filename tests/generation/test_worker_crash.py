"""A worker killed with SIGKILL in the middle of a job: the job is re-delivered and completes once."""
from __future__ import annotations

import os
import signal
import time

from sqlalchemy import func, select

from tests.conftest import _spawn, _stop

QUEUE = "generate-crash-test"  # our own queue: the stack's worker must not take the job


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _status(job_id) -> str:
    from effigies.db import session_scope
    from effigies.generation.models import GenerationJob

    with session_scope() as session:
        return session.get(GenerationJob, job_id).status


def test_job_survives_a_sigkilled_worker_and_completes_once(stack, make_user):
    from effigies.db import session_scope
    from effigies.generation import service
    from effigies.generation.models import Candidate
    from effigies.generation.tasks import generate_candidates

    env = {**stack.env, "EE_GENERATION_TEST_DELAY_S": "4", "EE_BROKER_VISIBILITY_TIMEOUT_S": "5"}
    logs = stack.data_dir / "logs"
    first = _spawn(["worker", "--queues", QUEUE, "--concurrency", "2"], env, logs / "crash-worker-1.log")
    second = None
    try:
        _, user_id = make_user()
        with session_scope() as session:
            job_id = service.create_job(session=session, user_id=user_id, slug="pixel-heroes", count=3).id
        generate_candidates.apply_async(args=[str(job_id)], queue=QUEUE)

        # "running" is committed before the (test-only) 4 s pause: the worker is mid-job.
        _wait(lambda: _status(job_id) == "running", 90, "the first worker to start the job")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        assert _status(job_id) == "running"

        second = _spawn(["worker", "--queues", QUEUE, "--concurrency", "2"], env, logs / "crash-worker-2.log")
        _wait(lambda: _status(job_id) == "done", 120, "the job to be re-delivered and finish")
        with session_scope() as session:
            positions = list(session.scalars(select(Candidate.position).where(Candidate.job_id == job_id)))
            assert sorted(positions) == [0, 1, 2]
            assert session.scalar(select(func.count()).select_from(Candidate).where(Candidate.job_id == job_id)) == 3
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if second is not None:
            _stop(second)


def test_an_item_of_the_fair_queue_survives_a_sigkilled_worker(stack, make_user):
    """The wake-up path (effigies.generation.fairqueue): the dead worker held the job's lease; the
    wake-up comes back after the visibility timeout, finds the lease over and serves the job."""
    import redis

    from effigies.config import get_settings
    from effigies.db import session_scope
    from effigies.generation import fairqueue, service
    from effigies.generation.models import Candidate

    lane = f"{QUEUE}-fair"  # a lane and queue of our own: the stack's worker serves neither
    env = {**stack.env, "EE_GENERATION_TEST_DELAY_S": "4", "EE_BROKER_VISIBILITY_TIMEOUT_S": "5"}
    logs = stack.data_dir / "logs"
    first = _spawn(["worker", "--queues", lane, "--concurrency", "2"], env, logs / "crash-worker-fair-1.log")
    second = None
    try:
        _, user_id = make_user()
        with session_scope() as session:
            job_id = service.create_job(session=session, user_id=user_id, slug="pixel-heroes", count=3).id
        service.submit_item(owner=fairqueue.owner_key(user_id=user_id), kind="job", item_id=str(job_id), images=3,
                            lane=lane)
        _wait(lambda: _status(job_id) == "running", 90, "the first worker to start the job")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        assert _status(job_id) == "running" and fairqueue.waiting(lane) == 0  # taken, and lost with its worker

        second = _spawn(["worker", "--queues", lane, "--concurrency", "2"], env, logs / "crash-worker-fair-2.log")
        _wait(lambda: _status(job_id) == "done", 120, "the job to be taken again and finish")
        with session_scope() as session:
            positions = list(session.scalars(select(Candidate.position).where(Candidate.job_id == job_id)))
        assert sorted(positions) == [0, 1, 2]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if second is not None:
            _stop(second)
        r = redis.Redis.from_url(get_settings().redis_url)
        for key in r.scan_iter(f"ee:fq:{lane}:*"):
            r.delete(key)
