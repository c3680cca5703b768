"""The database read behind /avatar/{hash} (effigies.avatars.public), on connections held for it."""
from __future__ import annotations

import contextlib

import anyio
import anyio.to_thread
import psycopg

from effigies.avatars import service as avatars_service
from effigies.db import get_engine


class HashLookups:
    """The few DB-API connections /avatar/{hash} holds for its one query per request
    (avatars_service.avatar_for_hash_on), taken from the engine's pool once and kept, in
    autocommit: no ORM session, pool checkout or ping per request. At most `size` lookups run at
    once (so at most `size` connections); a connection that fails is dropped, and the lookup is
    tried once more on a fresh one (PostgreSQL restarted: the first request after still answers)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._idle: list = []
        self._limiter: anyio.CapacityLimiter | None = None

    async def find(self, digest: str) -> str | None:
        if self._limiter is None:  # made in the event loop that uses it
            self._limiter = anyio.CapacityLimiter(self.size)
        return await anyio.to_thread.run_sync(self._find, digest, limiter=self._limiter)

    def _find(self, digest: str) -> str | None:
        for attempt in (1, 2):
            held = self._take() if attempt == 1 else self._connect()
            try:
                public_id = avatars_service.avatar_for_hash_on(held.driver_connection, digest)
            except psycopg.Error:
                with contextlib.suppress(Exception):
                    held.invalidate()  # closes it; back in the pool, its slot reconnects when next used
                    held.close()
                if attempt == 2:
                    raise
                continue
            self._idle.append(held)
            return public_id
        raise AssertionError("unreachable")

    def _take(self):
        try:
            return self._idle.pop()  # atomic: two threads never get the same connection
        except IndexError:
            return self._connect()

    @staticmethod
    def _connect():
        held = get_engine().raw_connection()  # OperationalError when the database is down
        held.driver_connection.autocommit = True
        return held
