"""Fixed-window rate limits in Redis, shared by every API process."""
from __future__ import annotations

import hashlib
import time

from fastapi import Request

from effigies.api.redis_client import get_redis
from effigies.errors import DomainError


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def hit(scope: str, key: str, *, limit: int, window_s: int) -> None:
    """Count one attempt; past `limit` in the window, answer 429 with when to retry."""
    hits([(scope, key, limit)], window_s=window_s)


def hits(limits: list[tuple[str, str, int]], *, window_s: int) -> None:
    """Several (scope, key, limit) counters of one window in one round trip to Redis."""
    window = int(time.time() // window_s)
    pipe = get_redis().pipeline(transaction=False)
    for scope, key, _ in limits:
        redis_key = f"ee:rl:{scope}:{hashlib.sha256(key.encode()).hexdigest()[:32]}:{window}"
        pipe.incr(redis_key)
        pipe.expire(redis_key, window_s + 1)
    counts = pipe.execute()[::2]
    if any(count > limit for count, (_, _, limit) in zip(counts, limits)):
        # When this fixed window ends, the counter starts again from zero.
        retry_after = window_s - int(time.time()) % window_s
        raise DomainError(
            "rate_limited",
            f"Too many attempts. Please wait {retry_after} seconds and try again.",
            status=429,
            headers={"Retry-After": str(retry_after)},
        )
