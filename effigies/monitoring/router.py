"""GET /api/admin/stats (mounted under the admin gate) and GET /metrics (its own gate)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from effigies.api.deps import SessionDep, optional_user
from effigies.db import utcnow
from effigies.errors import DomainError
from effigies.monitoring import service
from effigies.monitoring.schemas import DayOut, NowOut, QueueOut, StatsOut, TotalsOut

admin_router = APIRouter(tags=["admin"])
router = APIRouter(tags=["monitoring"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}


@admin_router.get("/stats", response_model=StatsOut)
def stats(session: SessionDep, days: Annotated[int, Query(ge=1, le=service.MAX_DAYS)] = 30):
    series = service.daily(session=session, days=days)
    snapshot = service.now(session=session)
    return StatsOut(
        days=days,
        first_day=series[0].day,
        last_day=series[-1].day,
        series=[DayOut(**vars(d)) for d in series],
        totals=TotalsOut(
            jobs=sum(d.jobs for d in series), candidates=sum(d.candidates for d in series),
            sales=sum(d.sales for d in series), revenue_cents=sum(d.revenue_cents for d in series),
        ),
        now=NowOut(
            queues=[QueueOut(name=q, depth=n) for q, n in snapshot.queues.items()] if snapshot.queues is not None else None,
            unacked=snapshot.unacked,
            live_workers=len(snapshot.workers) if snapshot.workers is not None else None,
            workers=snapshot.workers,
            registry_sold=snapshot.registry["sold"],
            registry_training=snapshot.registry["training"],
            registry_estimated=snapshot.registry_estimated,
            training_running=snapshot.training_runs["running"],
            training_queued=snapshot.training_runs["queued"],
        ),
        generated_at=utcnow(),
    )


def _authorize(request: Request, session) -> None:
    """Deny by default: the configured bearer token (what a Prometheus server sends), or an
    admin's session. A credential that is sent and wrong is refused, never retried as a cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and service.metrics_token_matches(given.strip()):
            return
        raise DomainError("invalid_token", "This token does not give access to the metrics.", status=401,
                          headers=BEARER_CHALLENGE)
    user = optional_user(request, session)
    if user is None:
        raise DomainError("not_authenticated", "Send the metrics token (Authorization: Bearer …) or log in as an admin.",
                          status=401, headers=BEARER_CHALLENGE)
    if user.role != "admin":
        raise DomainError("forbidden", "The metrics are for administrators only.", status=403)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request, session: SessionDep):
    _authorize(request, session)
    # No caching anywhere: every scrape must see the counters as they are now.
    return Response(service.prometheus_text(session=session), media_type=CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})
