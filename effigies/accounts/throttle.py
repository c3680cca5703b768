"""Password-guessing brakes: failed attempts per account and per client address, counted in
Redis by the `limits` library (moving window), so every API process shares the same counts.

Only failures count: people who type their password right are never slowed down by their own
log-ins, and an attacker's failures lock an account for at most one window, after which the
oldest failure drops out and the owner gets in again.
"""
from __future__ import annotations

import hashlib
import math
import time
from functools import lru_cache

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from effigies.config import get_settings
from effigies.errors import DomainError


@lru_cache
def _limiter() -> MovingWindowRateLimiter:
    # Short timeouts, as for the API's other Redis client: while Redis is down, 503 quickly.
    storage = RedisStorage(
        get_settings().redis_url or "redis://127.0.0.1:6379/0",
        key_prefix="ee:login",
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    return MovingWindowRateLimiter(storage)


def _budget(scope: str, value: str) -> tuple[RateLimitItem, str, str]:
    """(limit, identifiers…) for limits' calls; the key is a digest, so Redis holds no e-mail addresses."""
    settings = get_settings()
    amount = settings.login_failures_per_account if scope == "account" else settings.login_failures_per_ip
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return RateLimitItemPerSecond(amount, settings.login_failure_window_s), scope, digest


def _budgets(account: str, ip: str) -> list[tuple[RateLimitItem, str, str]]:
    return [_budget("account", account), _budget("ip", ip)]


def check(*, account: str, ip: str) -> None:
    """Before a password is checked: 429 with Retry-After while either budget is spent."""
    limiter = _limiter()
    waits = [
        limiter.get_window_stats(item, *identifiers).reset_time - time.time()
        for item, *identifiers in _budgets(account, ip)
        if not limiter.test(item, *identifiers)
    ]
    if waits:
        retry_after = max(1, math.ceil(max(waits)))
        raise DomainError(
            "rate_limited",
            f"Too many failed attempts. Please wait {retry_after} seconds and try again.",
            status=429,
            headers={"Retry-After": str(retry_after)},
        )


def record_failure(*, account: str, ip: str) -> None:
    limiter = _limiter()
    for item, *identifiers in _budgets(account, ip):
        limiter.hit(item, *identifiers)


def forget_account_failures(account: str) -> None:
    """After the right password: only its owner can wipe an attacker's progress on the account.
    The address's count stays, or an attacker could reset it by logging in to an account of their own."""
    item, *identifiers = _budget("account", account)
    _limiter().clear(item, *identifiers)
