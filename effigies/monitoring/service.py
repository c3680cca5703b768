"""What the admin stats page and GET /metrics show: activity per day, and the service right now.

Per-day series are UTC calendar days, one grouped query per table (generate_series supplies
the days without a row). Everything here is bounded in time: PostgreSQL reads run under a
statement timeout, Redis answers within 1 s or the figures it holds are reported as unknown.
"""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import redis
from sqlalchemy import Date, DateTime, cast, func, literal, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from effigies.avatars.models import Avatar
from effigies.config import get_settings
from effigies.db import DatabaseNotConfigured
from effigies.generation import fairqueue
from effigies.generation.models import GenerationJob
from effigies.monitoring import metrics
from effigies.training.models import ACTIVE_STATUSES, TrainingRun
from effigies.uniqueness.models import RegistryEntry
from effigies.worker import celery_app

MAX_DAYS = 365
STATEMENT_TIMEOUT_MS = 3000
# kombu's Redis transport keeps a queue's messages of priority p > 0 in "<queue>\x06\x16<p>".
PRIORITY_SEP, PRIORITY_STEPS = "\x06\x16", (3, 6, 9)
UNACKED_KEY = "unacked"  # kombu: messages delivered to a worker and not yet acknowledged
# Above this many registry rows an exact count(*) reads too much for a page refreshed every
# 15 s: the sold rows are then PostgreSQL's estimate (the training rows, far fewer, stay exact).
REGISTRY_EXACT_MAX = 1_000_000


@dataclass(frozen=True)
class Day:
    day: date
    jobs: int
    candidates: int
    sales: int
    revenue_cents: int


@dataclass
class Now:
    queues: dict[str, int] | None = None  # None: Redis did not answer in time
    unacked: int | None = None
    workers: list[str] | None = None
    registry: dict[str, int] = field(default_factory=dict)
    registry_estimated: bool = False
    training_runs: dict[str, int] = field(default_factory=dict)
    redis_ok: bool = False


def _bounded(session: Session) -> None:
    # SET LOCAL: for this transaction only, which the caller's session ends.
    session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))


def utc_today(*, session: Session) -> date:
    return session.scalar(select(cast(func.timezone("UTC", func.now()), Date)))


def _per_day(session: Session, created_at, aggregates: dict, first: date, last: date) -> dict[str, list[int]]:
    """{name: [value per day from first to last]} for aggregates over the rows created each day."""
    day = cast(func.timezone("UTC", created_at), Date)
    since = datetime.combine(first, datetime.min.time(), tzinfo=timezone.utc)
    grouped = (
        select(day.label("day"), *(agg.label(name) for name, agg in aggregates.items()))
        .where(created_at >= since)
        .group_by(day)
        .subquery("t")
    )
    # Naive timestamps: the series must not depend on the connection's time zone.
    series = func.generate_series(
        literal(datetime.combine(first, datetime.min.time()), DateTime()),
        literal(datetime.combine(last, datetime.min.time()), DateTime()),
        literal(timedelta(days=1)),
    )
    days = select(cast(series, Date).label("day")).subquery("d")
    rows = session.execute(
        select(days.c.day, *(func.coalesce(grouped.c[name], 0).label(name) for name in aggregates))
        .select_from(days.outerjoin(grouped, grouped.c.day == days.c.day))
        .order_by(days.c.day)
    ).all()
    return {"day": [r.day for r in rows], **{name: [int(r._mapping[name]) for r in rows] for name in aggregates}}


def daily(*, session: Session, days: int) -> list[Day]:
    """The last `days` UTC days, today included, oldest first; a day without activity is zeros."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}")
    _bounded(session)
    last = utc_today(session=session)  # the database's clock: the one created_at was set by
    first = last - timedelta(days=days - 1)
    jobs = _per_day(session, GenerationJob.created_at, {
        "jobs": func.count(),
        # Counted when the job finished, on the day it was asked for.
        "candidates": func.coalesce(func.sum(GenerationJob.candidates_count), 0),
    }, first, last)
    sales = _per_day(session, Avatar.created_at, {
        "sales": func.count(),
        "revenue_cents": func.coalesce(func.sum(Avatar.price_cents), 0),
    }, first, last)
    return [
        Day(day=d, jobs=j, candidates=c, sales=s, revenue_cents=r)
        for d, j, c, s, r in zip(jobs["day"], jobs["jobs"], jobs["candidates"], sales["sales"], sales["revenue_cents"])
    ]


def registry_size(*, session: Session) -> tuple[dict[str, int], bool]:
    """({kind: rows}, estimated?)."""
    estimate = session.scalar(text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'registry_entries'::regclass"))
    if estimate is None or estimate < REGISTRY_EXACT_MAX:  # -1: never analysed, so small
        counts = dict(session.execute(select(RegistryEntry.kind, func.count()).group_by(RegistryEntry.kind)).all())
        return {"sold": int(counts.get("sold", 0)), "training": int(counts.get("training", 0))}, False
    # Few rows, and the partial unique index on training rows holds exactly them.
    training = session.scalar(select(func.count()).select_from(RegistryEntry).where(RegistryEntry.kind == "training"))
    return {"sold": max(0, int(estimate) - int(training)), "training": int(training)}, True


def training_runs(*, session: Session) -> dict[str, tuple[int, set[str]]]:
    """{status: (runs, their queues)} for queued and running runs."""
    out: dict[str, tuple[int, set[str]]] = {status: (0, set()) for status in ACTIVE_STATUSES}
    rows = session.execute(
        select(TrainingRun.status, TrainingRun.queue, func.count())
        .where(TrainingRun.status.in_(ACTIVE_STATUSES))
        .group_by(TrainingRun.status, TrainingRun.queue)
    ).all()
    for status, queue, count in rows:
        total, queues = out[status]
        out[status] = (total + count, queues | {queue})
    return out


def known_queues(extra: set[str] = frozenset()) -> list[str]:
    """The queues effigies.worker routes tasks to, and any a training run was sent to."""
    routes = celery_app.conf.task_routes or {}
    names = {celery_app.conf.task_default_queue, *(r["queue"] for r in routes.values() if "queue" in r), *extra}
    return sorted(names)


def read_redis(queues: list[str]) -> tuple[dict[str, int], int, list[str]]:
    """(messages waiting per queue, unacknowledged, live worker names) in one round trip."""
    now = time.time()
    pipe = metrics.redis_client().pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)
        for step in PRIORITY_STEPS:
            pipe.llen(f"{queue}{PRIORITY_SEP}{step}")
        # Jobs and boards waiting their turn behind their owner's (effigies.generation.fairqueue):
        # on the generate queue a message is only a wake-up, the work waits there.
        pipe.get(fairqueue.waiting_key(queue))
    pipe.hlen(UNACKED_KEY)
    pipe.zrangebyscore(metrics.WORKERS_KEY, now - metrics.WORKER_LIVE_S, "+inf")
    answers = pipe.execute()
    width = 2 + len(PRIORITY_STEPS)
    depths = {q: sum(max(0, int(n or 0)) for n in answers[i * width:(i + 1) * width]) for i, q in enumerate(queues)}
    return depths, int(answers[-2]), sorted(n.decode() for n in answers[-1])


def now(*, session: Session) -> Now:
    _bounded(session)
    snapshot = Now()
    snapshot.registry, snapshot.registry_estimated = registry_size(session=session)
    runs = training_runs(session=session)
    snapshot.training_runs = {status: count for status, (count, _) in runs.items()}
    try:
        snapshot.queues, snapshot.unacked, snapshot.workers = read_redis(
            known_queues(set().union(*(queues for _, queues in runs.values())))
        )
        snapshot.redis_ok = True
    except redis.RedisError:
        pass  # shown as unknown; the database figures still stand
    return snapshot


def prometheus_text(*, session: Session) -> str:
    """The exposition text for GET /metrics (names: effigies.monitoring.metrics)."""
    gauges: list[tuple[str, metrics.Labels, float]] = []
    database_ok = True
    try:
        _bounded(session)
        sold, revenue = session.execute(
            select(func.count(), func.coalesce(func.sum(Avatar.price_cents), 0)).select_from(Avatar)
        ).one()
        gauges += [("ee_purchases_total", (), int(sold)), ("ee_revenue_cents_total", (), int(revenue))]
        snapshot = now(session=session)
    except (SQLAlchemyError, DatabaseNotConfigured):
        # The counters held in Redis still make a useful scrape; ee_up says what is missing.
        session.rollback()
        database_ok = False
        snapshot = Now()
        try:
            snapshot.queues, snapshot.unacked, snapshot.workers = read_redis(known_queues())
            snapshot.redis_ok = True
        except redis.RedisError:
            pass
    stored: dict[bytes, bytes] = {}
    if snapshot.redis_ok:
        try:
            stored = metrics.redis_client().hgetall(metrics.COUNTERS_KEY)
        except redis.RedisError:
            snapshot.redis_ok = False
    if snapshot.queues is not None:
        gauges += [("ee_queue_depth", (("queue", q),), n) for q, n in snapshot.queues.items()]
        gauges += [("ee_queue_unacked", (), snapshot.unacked), ("ee_workers_live", (), len(snapshot.workers))]
    gauges += [("ee_registry_entries", (("kind", k),), n) for k, n in snapshot.registry.items()]
    gauges += [("ee_training_runs", (("status", s),), n) for s, n in snapshot.training_runs.items()]
    gauges += [("ee_up", (("component", "database"),), int(database_ok)),
               ("ee_up", (("component", "redis"),), int(snapshot.redis_ok))]
    return metrics.render(stored, gauges)


def metrics_token_matches(given: str) -> bool:
    """Is this the configured metrics token (what a Prometheus server sends)? None configured:
    never. compare_digest takes as long whatever the first wrong byte (no timing hint)."""
    token = get_settings().metrics_token
    return token is not None and hmac.compare_digest(given.encode(), token.get_secret_value().encode())
