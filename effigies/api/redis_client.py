from __future__ import annotations

from functools import lru_cache

import redis

from effigies.config import get_settings


@lru_cache
def get_redis() -> redis.Redis:
    # Short timeouts: while Redis is down the API must answer 503 quickly, never hang.
    return redis.Redis.from_url(
        get_settings().redis_url,
        socket_timeout=2,
        socket_connect_timeout=2,
    )
