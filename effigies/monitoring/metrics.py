"""Prometheus metrics, aggregated across every API and worker process.

GET /metrics (effigies.monitoring.router) answers in the text exposition format 0.0.4:

Counters
    ee_generation_jobs_total{outcome}           generation tasks run by the workers; outcome is
                                                done, failed (every image was a near-copy of a
                                                registered one), error (the task raised) or
                                                skipped (a second delivery of a finished job)
    ee_candidates_generated_total               images offered to buyers
    ee_purchases_total                          avatars sold (read from PostgreSQL)
    ee_revenue_cents_total                      what they were sold for, in euro cents (PostgreSQL)
    ee_http_requests_total{route,method,status} requests answered by the API processes; route is
                                                the route template (/api/themes/{slug}), status
                                                the class (2xx...)
    ee_throttled_total{code}                    requests refused with 429, by error code: rate_limited
                                                (a rate limit), topups_paused (failed card payments)
Histogram
    ee_http_request_duration_seconds{route,method}  time from the request to the response's end
                                                (an event stream's whole life, for
                                                /api/generations/{job_id}/events)
Gauges
    ee_queue_depth{queue}                       messages waiting in a Celery queue (Redis list), and
                                                on `generate` the jobs and boards waiting their turn
    ee_queue_unacked                            messages taken by a worker and not yet acknowledged
    ee_workers_live                             Celery workers seen in the last WORKER_LIVE_S
    ee_registry_entries{kind}                   uniqueness registry rows: sold, training
    ee_training_runs{status}                    training runs queued or running
    ee_up{component}                            1 when database / redis answered this scrape

Several uvicorn processes and several Celery workers each count what they see in memory
(`RECORDER`, no I/O per event: the public avatar URL serves ~10k requests/s) and add their
deltas to one Redis hash every FLUSH_S seconds, in one pipeline of HINCRBY. A process killed
with SIGKILL loses at most its last FLUSH_S seconds of counts; counters never go back down.
Sales and revenue already live in PostgreSQL and are read from there.
"""
from __future__ import annotations

import atexit
import bisect
import logging
import math
import os
import threading
from collections.abc import Iterable
from functools import lru_cache

import redis

from effigies.config import get_settings

log = logging.getLogger(__name__)

COUNTERS_KEY = "ee:metrics:v1"  # hash: one field per counter sample or histogram bucket
WORKERS_KEY = "ee:metrics:workers"  # sorted set: worker name -> last time it said it was alive
WORKER_LIVE_S = 30.0
FLUSH_S = 5.0
# Seconds, the +Inf bucket implied: from a public avatar served from memory to a theme upload.
BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SEP = "\x1f"  # between the parts of a hash field: never in a metric name or an escaped label

FAMILIES: dict[str, tuple[str, str]] = {
    "ee_generation_jobs_total": ("counter", "Generation tasks run, by outcome (done, failed, error, skipped)."),
    "ee_candidates_generated_total": ("counter", "Images offered to buyers."),
    "ee_purchases_total": ("counter", "Avatars sold."),
    "ee_revenue_cents_total": ("counter", "Revenue from avatars sold, in euro cents."),
    "ee_http_requests_total": ("counter", "HTTP requests answered, by route template, method and status class."),
    "ee_throttled_total": ("counter", "Requests refused with 429, by error code (rate_limited, topups_paused...)."),
    "ee_http_request_duration_seconds": ("histogram", "HTTP request duration, by route template and method."),
    "ee_queue_depth": ("gauge", "Messages waiting in a Celery queue; on generate, also the jobs and boards waiting their turn."),
    "ee_queue_unacked": ("gauge", "Messages taken by a worker and not yet acknowledged."),
    "ee_workers_live": ("gauge", f"Celery workers seen alive in the last {WORKER_LIVE_S:g} s."),
    "ee_registry_entries": ("gauge", "Rows of the uniqueness registry, by kind."),
    "ee_training_runs": ("gauge", "Training runs queued or running."),
    "ee_up": ("gauge", "1 when the component answered this scrape, else 0."),
}

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(labels: Labels) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels)


@lru_cache
def redis_client() -> redis.Redis:
    """Our own client: a stats page or a scrape must not wait on a slow Redis for long."""
    return redis.Redis.from_url(get_settings().redis_url, socket_timeout=1, socket_connect_timeout=1)


class Recorder:
    """This process's counts since its last flush. Recording touches memory only."""

    def __init__(self, flush_s: float = FLUSH_S) -> None:
        self.flush_s = flush_s
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # Also in a forked child: its parent flushes what it had counted, and a lock held by
        # another thread at the fork would never be released here.
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, Labels], int] = {}
        self._histograms: dict[tuple[str, Labels], list[float]] = {}  # bucket counts..., then the sum
        self._pid: int | None = None

    def inc(self, name: str, labels: Labels = (), amount: int = 1) -> None:
        key = (name, labels)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + amount
        if self._pid is None:
            self._start()

    def count_and_time(self, counter: str, counter_labels: Labels, histogram: str, labels: Labels, seconds: float) -> None:
        """One request: a counter and a histogram under one lock (the HTTP middleware's path)."""
        key = (counter, counter_labels)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            slots = self._histograms.get((histogram, labels))
            if slots is None:
                slots = self._histograms[(histogram, labels)] = [0.0] * (len(BUCKETS) + 2)
            slots[bisect.bisect_left(BUCKETS, seconds)] += 1
            slots[-1] += seconds
        if self._pid is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._pid is not None:
                return
            self._pid = os.getpid()
        threading.Thread(target=self._loop, args=(self._pid,), daemon=True, name="ee-metrics-flush").start()

    def _loop(self, pid: int) -> None:
        stop = threading.Event()
        while not stop.wait(self.flush_s) and self._pid == pid:
            self.flush()

    def flush_at_exit(self) -> None:
        if self._pid == os.getpid():
            self.flush()

    def flush(self) -> bool:
        """Add this process's deltas to the shared hash; kept for the next try if Redis fails."""
        with self._lock:
            counts, self._counts = self._counts, {}
            histograms, self._histograms = self._histograms, {}
        if not counts and not histograms:
            return True
        pipe = redis_client().pipeline(transaction=False)
        for (name, labels), value in counts.items():
            pipe.hincrby(COUNTERS_KEY, SEP.join(("c", name, label_text(labels))), value)
        for (name, labels), slots in histograms.items():
            text = label_text(labels)
            for index, count in enumerate(slots[:-1]):
                if count:
                    pipe.hincrby(COUNTERS_KEY, SEP.join(("b", name, text, str(index))), int(count))
            pipe.hincrbyfloat(COUNTERS_KEY, SEP.join(("s", name, text)), slots[-1])
        try:
            pipe.execute()
            return True
        except redis.RedisError as exc:
            if not isinstance(exc, redis.ConnectionError) or isinstance(exc, redis.TimeoutError):
                # Redis may have applied the pipeline before the answer was lost: sending it
                # again could count twice, and a counter that over-counts is worse than a gap.
                log.warning("metrics of the last %g s dropped: %s", self.flush_s, exc)
                return False
            log.warning("metrics not flushed, kept for the next try: %s", exc)
            with self._lock:
                for key, value in counts.items():
                    self._counts[key] = self._counts.get(key, 0) + value
                for key, slots in histograms.items():
                    mine = self._histograms.setdefault(key, [0.0] * len(slots))
                    for i, v in enumerate(slots):
                        mine[i] += v
            return False


RECORDER = Recorder()
atexit.register(RECORDER.flush_at_exit)


def _number(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**53):
        return str(int(value))
    return "+Inf" if value == math.inf else repr(float(value))


def render(stored: dict[bytes, bytes], gauges: Iterable[tuple[str, Labels, float]]) -> str:
    """The exposition text: the shared hash's counters and histograms, then this scrape's gauges
    and values read elsewhere (`gauges`: (name, labels, value), counters included)."""
    samples: dict[str, list[str]] = {}
    histograms: dict[tuple[str, str], list[float]] = {}
    for raw_field, raw_value in stored.items():
        kind, name, *rest = raw_field.decode().split(SEP)
        if name not in FAMILIES:
            continue  # a metric an older release wrote
        if kind == "c":
            sample = f"{name}{{{rest[0]}}}" if rest[0] else name
            samples.setdefault(name, []).append(f"{sample} {int(raw_value)}")
        elif kind in ("b", "s"):
            slots = histograms.setdefault((name, rest[0]), [0.0] * (len(BUCKETS) + 2))
            if kind == "s":
                slots[-1] = float(raw_value)
            elif int(rest[1]) <= len(BUCKETS):
                slots[int(rest[1])] = float(raw_value)
    for (name, text), slots in sorted(histograms.items()):
        lines = samples.setdefault(name, [])
        prefix = text + "," if text else ""
        total = 0.0
        for bound, count in zip((*BUCKETS, math.inf), slots[:-1]):
            total += count
            lines.append(f'{name}_bucket{{{prefix}le="{_number(float(bound))}"}} {_number(total)}')
        lines.append(f"{name}_sum{{{text}}} {_number(slots[-1])}")
        lines.append(f"{name}_count{{{text}}} {_number(total)}")
    for name, labels, value in gauges:
        text = label_text(labels)
        samples.setdefault(name, []).append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")
    # Before any job has run: 0 is a value a rate() can start from, an absent series is not.
    samples.setdefault("ee_candidates_generated_total", ["ee_candidates_generated_total 0"])
    out = []
    for name, (kind, help_text) in FAMILIES.items():
        if name not in samples:
            continue
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(sorted(samples[name]) if kind != "histogram" else samples[name])
    return "\n".join(out) + "\n"
