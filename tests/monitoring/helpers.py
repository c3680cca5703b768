"""Exact before/after counts need a still service: no generation of an earlier test may finish
(or flush its counters) in the middle of one of ours."""
from __future__ import annotations

from tests.training.helpers import wait_for


def pending_generations() -> int:
    from sqlalchemy import func, select

    from effigies.db import session_scope
    from effigies.generation.models import GenerationJob

    with session_scope() as session:
        return session.scalar(
            select(func.count()).select_from(GenerationJob).where(GenerationJob.status.in_(("queued", "running")))
        )


def wait_quiet(timeout: float = 180) -> None:
    """Until no generation is queued or running (a worker-crash test's job is redelivered late)."""
    wait_for(lambda: pending_generations() == 0, timeout, "earlier tests' generations to finish", interval=0.5)
