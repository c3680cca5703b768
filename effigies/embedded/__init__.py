"""Embedded PostgreSQL, Valkey (Redis protocol) and localstripe for local runs and tests.

Public API:

* `run_up() -> int` — body of `effigies up` (see `effigies.embedded.up`).
* `embedded_services(data_dir, *, public_url=None, fixed_ports=False) -> ContextManager[dict]`
  — start whichever of postgres/redis/localstripe os.environ lacks, yield their env vars
  (DATABASE_URL, REDIS_URL, STRIPE_*), stop them at exit. For the test suite's conftest.
* `EmbeddedPostgres`, `EmbeddedRedis`, `EmbeddedStripe` — `start() -> url`, `stop()`,
  `is_running()`; data under `<data>/postgres`, `<data>/redis`, `<data>/localstripe`.
* `load_local_secrets(data_dir) -> dict` — EE_SECRET_KEY / STRIPE_WEBHOOK_SECRET from
  `<data>/secrets.json` (0600), generated on first use.
* `register_webhook(api_base, public_url, secret)` — (re-)register our webhook in localstripe.

Default ports (each falls back to a free port when taken; override with
EE_EMBEDDED_POSTGRES_PORT / EE_EMBEDDED_REDIS_PORT / EE_EMBEDDED_STRIPE_PORT /
EE_EMBEDDED_SMTP_PORT, 0 = any):
postgres 54329, valkey 63799, localstripe 8420, smtp sink 8025 — all bound to 127.0.0.1.
"""
from __future__ import annotations

from .local_secrets import load_local_secrets
from .localstripe import LOCAL_PUBLISHABLE_KEY, LOCAL_SECRET_KEY, EmbeddedStripe, register_webhook
from .postgres import EmbeddedPostgres
from .services import DataDirBusy, DataDirLock, EmbeddedServices, Plan, embedded_services
from .up import run_up
from .valkey import EmbeddedRedis

__all__ = [
    "DataDirBusy",
    "DataDirLock",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedServices",
    "EmbeddedStripe",
    "LOCAL_PUBLISHABLE_KEY",
    "LOCAL_SECRET_KEY",
    "Plan",
    "embedded_services",
    "load_local_secrets",
    "register_webhook",
    "run_up",
]
