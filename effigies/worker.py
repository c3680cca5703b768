"""The one Celery app: Redis broker, JSON only, long and short work on separate queues."""
from __future__ import annotations

import os

from celery import Celery, signals

from effigies.config import get_settings


def _broker_url() -> str:
    return get_settings().redis_url


# worker_metrics: generation outcomes and worker presence for /metrics and the admin stats.
celery_app = Celery("effigies", include=["effigies.generation.tasks", "effigies.training.tasks",
                                         "effigies.monitoring.worker_metrics"])
celery_app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_ignore_result=True,
    # The training sweep goes to the generate queue: train workers may all be busy for hours.
    task_routes={"effigies.generation.tasks.*": {"queue": "generate"},
                 "effigies.training.tasks.train_run": {"queue": "train"},
                 "effigies.training.tasks.recover_training_runs": {"queue": "generate"}},
    task_default_queue="default",
    # A job goes back to the queue if the worker dies mid-task; tasks are idempotent.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=3,
    worker_hijack_root_logger=False,
    # Celery beat (run inside a worker started with --beat, as `effigies up` does): expired
    # candidates lose their image files; the task is idempotent, so two beats are harmless.
    beat_schedule={
        "sweep-expired-candidates": {
            "task": "effigies.generation.tasks.sweep_expired_candidates",
            "schedule": 300.0,
            "options": {"queue": "generate", "expires": 240},
        },
        # Generation jobs whose queue message was lost (Redis restarted) are sent again.
        "recover-generation-jobs": {
            "task": "effigies.generation.tasks.recover_generation_jobs",
            "schedule": get_settings().generation_requeue_s,
            "options": {"queue": "generate", "expires": get_settings().generation_requeue_s},
        },
        # The home page's fresh avatars (each run redraws only the sets older than the period).
        "refresh-showcase": {
            "task": "effigies.generation.tasks.refresh_showcase",
            "schedule": get_settings().showcase_refresh_s / 4,
            "options": {"queue": "generate", "expires": get_settings().showcase_refresh_s / 4},
        },
        # Training runs whose worker died (lease expired) go back to their queue and resume.
        "recover-training-runs": {
            "task": "effigies.training.tasks.recover_training_runs",
            "schedule": get_settings().training_recover_s,
            "options": {"queue": "generate", "expires": get_settings().training_recover_s},
        },
    },
)


def apply_settings() -> None:
    """The broker's address and timeouts, from the settings as they are now: run at import,
    and again by whoever changes the environment afterwards (the test suite's stack)."""
    settings = get_settings()
    celery_app.conf.update(
        broker_url=_broker_url(),
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s,
            # kombu looks for overdue unacked messages every 10 s but scans only every 10th
            # time (so ~100 s); scan at every look: one ZRANGE on a small index.
            "unacked_restore_interval": min(10, settings.broker_visibility_timeout_s),
            "unacked_restore_throttle": 1,
            "socket_timeout": 5, "socket_connect_timeout": 3,
        },
    )


apply_settings()


def _torch_threads(default: int) -> None:
    """EE_TORCH_THREADS when set, else `default`."""
    import torch

    threads = get_settings().torch_threads
    torch.set_num_threads(max(1, default if threads is None else threads))


@signals.worker_init.connect
def _worker_init(sender=None, **_: object) -> None:
    # Threads pool: one process, one batcher thread per generator running the forward passes,
    # so it may use every core; a prefork child gets one thread (set after the fork, below).
    _torch_threads(os.cpu_count() or 1)


@signals.worker_process_init.connect
def _after_fork(**_: object) -> None:
    # Connections and threads must not be shared with the parent across fork.
    from effigies.db import reset_engine

    reset_engine()
    _torch_threads(1)
