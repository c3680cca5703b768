"""`effigies api`: uvicorn, with as many processes as the CPUs this container may really use.

One Python process runs on one core at a time, so a single process leaves the rest of the
machine idle. Every process is a full copy of the app: state that must be shared (sessions,
rate limits, log-in throttles, job events) lives in PostgreSQL or Redis; what stays per process
is caches (public avatar variants, loaded keys) and each process's own SSE listeners, fed by
Redis pub/sub.
"""
from __future__ import annotations

import copy
import logging
import math
import os
from pathlib import Path

from effigies.config import Settings

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus() -> int:
    """CPUs we may use: the affinity mask, capped by a cgroup v2 quota (`docker run --cpus 2`
    on a 64-core host must not start 64 processes)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def worker_count(settings: Settings, requested: int | None = None) -> int:
    """--workers, else EE_API_WORKERS, else every usable CPU in production and one elsewhere
    (a local run and the tests stay one process, with one log and one place to debug)."""
    if requested:
        return requested
    if settings.api_workers:
        return settings.api_workers
    return available_cpus() if settings.env == "production" else 1


class QuietPublicHits(logging.Filter):
    """Drops the access-log lines of served public avatars (200/304 on /a/…): hotlinked images
    are the bulk of the traffic, a CDN in front logs them, and one line each cost 40% of the
    requests a process serves (3,100 instead of 5,400 req/s, measured with uvicorn alone).
    Their errors, and every other request, are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and str(args[2]).startswith("/a/"):
            return args[4] not in (200, 304)
        return True


def log_config() -> dict:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["quiet_public_hits"] = {"()": f"{__name__}.QuietPublicHits"}
    config["loggers"]["uvicorn.access"]["filters"] = ["quiet_public_hits"]
    return config


def serve(*, settings: Settings, host: str | None, port: int | None, workers: int | None) -> None:
    import uvicorn

    uvicorn.run(
        "effigies.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=worker_count(settings, workers),
        # httptools with limits on the request's head and on slow senders (431/414/408 in JSON).
        http="effigies.api.http_limits:LimitedHttpToolsProtocol",
        proxy_headers=True,
        log_level="info",
        log_config=log_config(),
    )
