"""Health and public configuration."""
from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from effigies.api.redis_client import get_redis
from effigies.billing import stripe_gateway
from effigies.config import get_settings
from effigies.mail import outbox as mail_outbox
from effigies.db import get_engine
from effigies.monitoring.metrics import WORKER_LIVE_S, WORKERS_KEY

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health")
def health():
    components: dict[str, str] = {}
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        components["database"] = "ok"
    except Exception as exc:  # any failure means: not healthy, say which
        components["database"] = f"unavailable: {type(exc).__name__}"
    try:
        client = get_redis()
        client.ping()
        # The workers' presence set (effigies.monitoring.worker_metrics): one bounded ZCOUNT.
        workers = client.zcount(WORKERS_KEY, time.time() - WORKER_LIVE_S, "+inf")
        components["redis"] = "ok"
        components["workers"] = "ok" if workers else "none alive"
    except Exception as exc:
        components["redis"] = f"unavailable: {type(exc).__name__}"
        components["workers"] = "unknown"
    broken = [name for name, state in components.items() if state != "ok"]
    if broken:
        return JSONResponse(
            {
                "status": "unavailable",
                "components": components,
                "error": {"code": "unhealthy", "message": f"Unavailable: {', '.join(broken)}"},
            },
            status_code=503,
        )
    return {"status": "ok", "components": components}


@router.get("/config")
def public_config():
    settings = get_settings()
    return {
        "price_cents": settings.price_cents,
        "currency": "eur",
        "topup_packs_cents": settings.topup_packs_cents,
        "stripe_publishable_key": settings.stripe_publishable_key,
        "stripe_js_url": stripe_gateway.stripe_js_url(),
        # Local mode with the embedded SMTP sink: the frontend links its mail outbox page (#/mail).
        "mail_outbox": mail_outbox.enabled(),
    }
