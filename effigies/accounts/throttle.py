"""Password-guessing brakes: failed attempts per account and per client address within a moving
window, counted in Redis (one sorted set of attempt times per budget), so every API process
shares the same counts.

An attempt takes its place in both budgets *before* its password is checked, in one atomic step
(a Lua script): a burst of concurrent guesses gets exactly the budget, never more. (Checking the
counts first and recording the failure after the slow password hash let every guess of a burst
through the check before the first was recorded: 25 concurrent guesses at a budget of 10 all
got to try.)

Only failures count: a right password gives its places back and wipes the account's failures, so
people who type their password right are never slowed down by their own log-ins (a right password
holds its places only while it is checked: only a budget's worth of log-ins to one account at the
same instant could make one wait). An attacker's failures lock an account for at most one window,
after which the oldest failure drops out and the owner gets in again.
"""
from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis

from effigies.config import get_settings
from effigies.errors import DomainError

PREFIX = "ee:login"

# KEYS: the budgets' sorted sets. ARGV: window (ms), this attempt's member, each budget's limit.
# Returns 0 when the attempt took a place in every budget, else the ms until one frees up. The
# clock is Redis's own: every API process (and host) then measures the window alike.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, member = tonumber(ARGV[1]), ARGV[2]
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
    wait = math.max(wait, oldest + window - now, 1)
  end
end
if wait > 0 then
  return wait
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
end
return 0
"""


@lru_cache
def _redis() -> redis.Redis:
    # Short timeouts, as for the API's other Redis client: while Redis is down, 503 quickly.
    return redis.Redis.from_url(get_settings().redis_url, socket_timeout=2, socket_connect_timeout=2)


@lru_cache
def _script():
    return _redis().register_script(_RESERVE)


def _key(scope: str, value: str) -> str:
    """The key is a digest, so Redis holds no e-mail addresses."""
    return f"{PREFIX}:{scope}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


@contextmanager
def attempt(*, account: str, ip: str) -> Iterator[Attempt]:
    """Reserve this attempt's place in both budgets, or answer 429 with Retry-After.

    Inside the block, call `.succeeded()` when the password was right; otherwise the places stay
    taken: that is the recorded failure."""
    settings = get_settings()
    window_ms = settings.login_failure_window_s * 1000
    keys = [_key("account", account), _key("ip", ip)]
    member = secrets.token_hex(8)
    wait_ms = _script()(
        keys=keys,
        args=[window_ms, member, settings.login_failures_per_account, settings.login_failures_per_ip],
    )
    if wait_ms:
        retry_after = max(1, math.ceil(wait_ms / 1000))
        raise DomainError(
            "rate_limited",
            f"Too many failed attempts. Please wait {retry_after} seconds and try again.",
            status=429,
            headers={"Retry-After": str(retry_after)},
        )
    yield Attempt(keys=keys, member=member)


class Attempt:
    def __init__(self, *, keys: list[str], member: str) -> None:
        self.keys, self.member = keys, member

    def succeeded(self) -> None:
        """The right password: this attempt was no failure, and only the account's owner can wipe
        an attacker's progress on the account. The address keeps its other failures, or an
        attacker could reset them by logging in to an account of their own."""
        account_key, ip_key = self.keys
        pipe = _redis().pipeline(transaction=False)
        pipe.delete(account_key)
        pipe.zrem(ip_key, self.member)
        pipe.execute()


def forget(*, account: str) -> None:
    """Wipe the account's failures: its owner proved who they are (the right password on a known
    device, or a reset link that reached their inbox)."""
    _redis().delete(_key("account", account))
