"""A job's end, told through Redis pub/sub so the browser's event stream needn't poll.

Each API process holds ONE subscription (a pattern over every job's channel) and hands each
message to the streams waiting for that job: a stream costs a dictionary entry, not a Redis
connection (opening one per stream was an eighth of the API's CPU under load, py-spy).
Best effort on both sides: a lost notification only means the browser finds out by polling.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from functools import lru_cache

import redis
import redis.asyncio as aioredis

from effigies.config import get_settings

log = logging.getLogger(__name__)

_PREFIX = "ee:generation:"
# Sent to every waiting stream when the subscription breaks: a message may have been lost
# meanwhile, so each re-reads its job from the database.
RESYNC: dict = {"resync": True}


def channel(job_id: uuid.UUID | str) -> str:
    return f"{_PREFIX}{job_id}"


def _redis_url() -> str:
    return get_settings().redis_url


@lru_cache
def _publisher() -> redis.Redis:
    # Short timeouts: a worker must never wait on Redis to finish a job it has already committed.
    return redis.Redis.from_url(_redis_url(), socket_timeout=2, socket_connect_timeout=2)


def publish_job_update(job_id: uuid.UUID | str, outcome: dict | None = None) -> None:
    """Call only after the job's new state is committed. `outcome` (status, error, candidates)
    saves the listener a database read; without it, the listener re-reads the job."""
    try:
        _publisher().publish(channel(job_id), json.dumps(outcome or {}))
    except redis.RedisError as exc:
        log.warning("could not announce generation %s: %s", job_id, exc)


class _Hub:
    """The process's subscription and the queues of the streams waiting on it."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Queue]] = {}
        self._ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ee-job-events")

    async def listen(self, job_id: uuid.UUID | str, timeout: float = 2.0) -> asyncio.Queue:
        """A queue that receives the job's outcomes; registered only once the subscription is
        confirmed, so a commit after this returns is always followed by a message."""
        await asyncio.wait_for(self._ready.wait(), timeout)
        queue: asyncio.Queue = asyncio.Queue()
        self._waiting.setdefault(channel(job_id), set()).add(queue)
        return queue

    def forget(self, job_id: uuid.UUID | str, queue: asyncio.Queue) -> None:
        key = channel(job_id)
        queues = self._waiting.get(key)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._waiting[key]

    def _resync_all(self) -> None:
        for queues in self._waiting.values():
            for queue in queues:
                queue.put_nowait(RESYNC)

    async def _run(self) -> None:
        delay = 0.2
        while True:
            client = aioredis.Redis.from_url(_redis_url(), socket_connect_timeout=2)
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(f"{_PREFIX}*")
                while True:
                    message = await pubsub.get_message(timeout=30)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        self._ready.set()
                        delay = 0.2
                    elif message["type"] == "pmessage":
                        self._deliver(message["channel"].decode(), message["data"])
            except (redis.RedisError, OSError) as exc:
                log.warning("job events subscription lost (%s); retrying in %.1f s", exc, delay)
            except Exception:  # noqa: BLE001 - the hub must outlive any surprise, or streams stay deaf
                log.exception("job events subscription failed; retrying in %.1f s", delay)
            finally:
                self._ready.clear()
                self._resync_all()
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except (redis.RedisError, OSError):
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _deliver(self, key: str, data: bytes) -> None:
        queues = self._waiting.get(key)
        if not queues:
            return
        try:
            outcome = json.loads(data) or RESYNC
        except ValueError:
            outcome = RESYNC
        for queue in queues:
            queue.put_nowait(outcome)


_hubs: dict[asyncio.AbstractEventLoop, _Hub] = {}


def hub() -> _Hub:
    """The running event loop's hub (uvicorn runs one loop per process), started on first use."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = _Hub()
    return _hubs[loop]
