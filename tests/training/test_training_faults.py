"""Train workers that die or outlive the broker's visibility timeout: a run is trained by one worker
at a time, resumes from its last checkpoint, and ends with exactly one model version."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.conftest import _spawn, _stop
from tests.training.helpers import draft_theme, run_row, theme_versions, wait_for

pytestmark = pytest.mark.slow

QUEUE = "train-crash-test"  # our own queue: the stack's train worker must not take the run
VISIBILITY_S = 5


def _log(path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_a_sigkilled_train_worker_resumes_elsewhere_and_no_run_is_executed_twice(stack):
    from sqlalchemy import func, update

    from effigies.db import session_scope
    from effigies.training import service
    from effigies.training.models import TrainingRun

    env = {
        **stack.env,
        # Redis would hand an unacknowledged message to another worker after 5 s (checked every 5 s).
        "EE_BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
        "EE_TRAINING_HEARTBEAT_S": "1", "EE_TRAINING_LEASE_S": "8", "EE_TRAINING_RECOVER_S": "2",
    }
    logs = stack.data_dir / "logs"
    first_log, second_log = logs / "train-crash-1.log", logs / "train-crash-2.log"
    first = _spawn(["worker", "--queues", QUEUE, "--concurrency", "1"], env, first_log)
    second = None
    try:
        slug = draft_theme(stack)
        with session_scope() as session:
            # Width 8 and a checkpoint every second: the run costs little CPU and a kill loses at most
            # a second. Long enough that it never ends before the test is done watching it.
            run = service.start_run(session=session, slug=slug, preset="long", user_id=None, queue=QUEUE,
                                    overrides={"width": 8, "checkpoint_every_s": 1.0, "sample_every_s": 5.0})
        service.enqueue(run.id, QUEUE)
        owner = wait_for(lambda: (r := run_row(run.id)).status == "running" and r.lease_owner, 90,
                         "the first worker to take the run")
        assert int(owner.split(":")[1]) == first.pid  # threads pool: the run trains in the worker process

        # A second, idle worker on the same queue, with the beat (whose sweep re-queues dead runs).
        second = _spawn(["worker", "--queues", QUEUE, "--concurrency", "1", "--beat"], env, second_log)
        wait_for(lambda: " ready." in _log(second_log), 90, "the second worker to be ready")
        watched_from = time.monotonic()
        # Twice the visibility timeout plus the restore interval: a message acknowledged late would
        # by now have been handed to the idle second worker.
        wait_for(lambda: time.monotonic() - watched_from > 2 * VISIBILITY_S + 5
                 and (run_row(run.id).progress.get("checkpoint_images") or 0) > 0, 120, "training past a checkpoint")
        row = run_row(run.id)
        assert (row.status, row.attempts, row.lease_owner) == ("running", 1, owner), "the run was taken twice"
        assert "train_run[" not in _log(second_log), "the message was delivered a second time"

        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        checkpoint_step = json.loads((service.run_dir(run.id) / "checkpoints" / "latest.json").read_text())["step"]
        assert checkpoint_step > 0
        # The resumed attempt trains a few more steps only (total_images is read at each start).
        with session_scope() as session:
            images = checkpoint_step * 64 + 640
            session.execute(update(TrainingRun).where(TrainingRun.id == run.id).values(
                options=TrainingRun.options.op("||")(func.jsonb_build_object("total_images", images))))

        resumed = wait_for(lambda: (r := run_row(run.id)).attempts == 2 and r.progress.get("resumed_from_images") and r,
                           90, "the sweep to re-queue the run and the second worker to resume it")
        assert resumed.lease_owner != owner
        # It went on from the checkpoint, not from step 0.
        assert resumed.progress["resumed_from_images"] >= checkpoint_step * 64 > 0
        done = wait_for(lambda: (r := run_row(run.id)).status not in ("queued", "running") and r, 240, "the run to end")
        assert done.status == "done", done.error
        assert done.attempts == 2 and done.progress["images"] == images
        versions = theme_versions(slug)
        assert [v.id for v in versions] == [done.model_version_id] and versions[0].version == 1
        assert _log(first_log).count("train_run[") == 1  # received once, acknowledged at once
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if second is not None:
            _stop(second)
