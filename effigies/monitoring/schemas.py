from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class TotalsOut(BaseModel):
    jobs: int  # generations asked for
    candidates: int  # images those generations offered
    sales: int  # avatars sold
    revenue_cents: int


class DayOut(TotalsOut):
    day: date  # a UTC calendar day


class QueueOut(BaseModel):
    name: str
    depth: int  # messages waiting for a worker


class NowOut(BaseModel):
    # None: Redis did not answer within a second (the page says "unknown", never 0).
    queues: list[QueueOut] | None
    unacked: int | None  # messages a worker has taken and not finished
    live_workers: int | None
    workers: list[str] | None
    registry_sold: int
    registry_training: int
    registry_estimated: bool  # the sold count is PostgreSQL's estimate (a very large registry)
    training_running: int
    training_queued: int


class StatsOut(BaseModel):
    days: int
    first_day: date
    last_day: date
    series: list[DayOut]
    totals: TotalsOut  # over the whole period
    now: NowOut
    generated_at: datetime
