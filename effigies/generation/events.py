"""A job's end, told through Redis pub/sub so the browser's event stream needn't poll.

Best effort on both sides: a lost notification only means the browser finds out by polling.
"""
from __future__ import annotations

import logging
import time
import uuid
from functools import lru_cache

import anyio
import redis
import redis.asyncio as aioredis

from effigies.config import get_settings

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def channel(job_id: uuid.UUID | str) -> str:
    return f"ee:generation:{job_id}"


def _redis_url() -> str:
    return get_settings().redis_url or DEFAULT_REDIS_URL


@lru_cache
def _publisher() -> redis.Redis:
    # Short timeouts: a worker must never wait on Redis to finish a job it has already committed.
    return redis.Redis.from_url(_redis_url(), socket_timeout=2, socket_connect_timeout=2)


def publish_job_update(job_id: uuid.UUID | str) -> None:
    """Call only after the job's new state is committed: a listener re-reads it from the database."""
    try:
        _publisher().publish(channel(job_id), "1")
    except redis.RedisError as exc:
        log.warning("could not announce generation %s: %s", job_id, exc)


class JobListener:
    """One subscription to one job's channel, opened before the job's state is read, so a
    commit that lands after the read is always followed by a message we receive."""

    def __init__(self, job_id: uuid.UUID | str) -> None:
        self._channel = channel(job_id)
        # A client of its own: async pools are bound to one event loop, and a subscription
        # holds its connection for as long as it lasts anyway.
        self._client = aioredis.Redis.from_url(_redis_url(), socket_connect_timeout=2)
        self._pubsub = self._client.pubsub()

    async def open(self, timeout: float = 5.0) -> None:
        """Subscribe and wait for Redis to confirm: until then a PUBLISH could still be missed."""
        await self._pubsub.subscribe(self._channel)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = await self._pubsub.get_message(timeout=left)
            if message is not None and message["type"] == "subscribe":
                return
        raise redis.TimeoutError(f"no confirmation of the subscription to {self._channel}")

    async def wait(self, timeout: float) -> bool:
        """True once a notification arrives; False if `timeout` seconds pass without one."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is not None and message["type"] == "message":
                return True
        return False

    async def close(self) -> None:
        # Shielded: it runs while a disconnected browser's stream is being cancelled, and an
        # interrupted close would leave the connection to the garbage collector.
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            try:
                await self._pubsub.aclose()
                await self._client.aclose()
            except (redis.RedisError, OSError):
                pass  # the connection is being dropped either way
