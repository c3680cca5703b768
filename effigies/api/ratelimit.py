"""Fixed-window rate limits in Redis, shared by every API process."""
from __future__ import annotations

import hashlib
import time
from functools import lru_cache

from fastapi import Request
from redis.commands.core import Script

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


# All or nothing: spend `cost` on every counter only if each has that much room left, so a board
# of 64 refused near the end of a budget leaves its 30 images for the jobs that still fit.
_SPEND = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') + tonumber(ARGV[1]) > tonumber(ARGV[i + 2]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('INCRBY', key, ARGV[1])
  redis.call('EXPIRE', key, ARGV[2])
end
return 0
"""


@lru_cache
def _spend_script() -> Script:
    return get_redis().register_script(_SPEND)


def spend(limits: list[tuple[str, str, int]], *, cost: int, window_s: int, what: str) -> None:
    """Budgets counted in units (images, `what`) rather than requests: `cost` units from each
    (scope, key, limit) counter of one fixed window, in one round trip. A refusal spends nothing
    and answers 429 with the seconds until the window ends, when the counters start again."""
    window = int(time.time() // window_s)
    keys = [f"ee:rl:{scope}:{hashlib.sha256(key.encode()).hexdigest()[:32]}:{window}" for scope, key, _ in limits]
    refused = _spend_script()(keys=keys, args=[cost, window_s + 1, *(limit for _, _, limit in limits)],
                              client=get_redis())
    if refused:
        retry_after = window_s - int(time.time()) % window_s
        raise DomainError(
            "rate_limited",
            f"Too many {what}: at most {limits[refused - 1][2]} every {window_s} seconds. "
            f"Please wait {retry_after} seconds and try again.",
            status=429,
            headers={"Retry-After": str(retry_after)},
        )
