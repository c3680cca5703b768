"""GET /metrics: who may read it, that Prometheus can parse it, and that it follows real activity
(counters flushed to Redis by the API and worker processes every few seconds)."""
from __future__ import annotations

import math
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.avatars.helpers import candidates
from tests.monitoring.helpers import wait_quiet
from tests.training.helpers import draft_theme, wait_for

GENERATIONS_ROUTE = "/api/themes/{slug}/generations"


def _token(stack) -> str:
    return stack.env["EE_METRICS_TOKEN"]


def _scrape(stack) -> dict[tuple, float]:
    """{(sample name, sorted labels): value}, through prometheus_client's own parser."""
    response = httpx.get(stack.url + "/metrics", headers={"Authorization": f"Bearer {_token(stack)}"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_denied_without_the_token_or_an_admin_session(stack, make_user):
    url = stack.url + "/metrics"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    for header in (f"Bearer {_token(stack)}x", f"Bearer {_token(stack)[:-1]}", "Bearer", f"Basic {_token(stack)}"):
        wrong = httpx.get(url, headers={"Authorization": header})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_token", header
    user, _ = make_user()
    assert user.get("/metrics").status_code == 403
    admin, _ = make_user(role="admin")
    assert admin.get("/metrics").status_code == 200
    # A wrong token is refused even alongside an admin's cookie: a sent credential is never ignored.
    assert admin.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"bearer {_token(stack)}"}).status_code == 200


def test_metrics_parse_and_counters_follow_a_generation_and_a_purchase(stack, make_user, client):
    price = client.get("/api/config").json()["price_cents"]
    before = _settled(stack)
    user, _ = make_user(balance_cents=100)
    offered = candidates(user, count=3)
    assert user.post(f"/api/candidates/{offered[0]['id']}/purchase", json={"withdrawal_waiver": True}).status_code == 201

    # Sales and revenue come from PostgreSQL: there at once.
    now = _scrape(stack)
    assert _value(now, "ee_purchases_total") == _value(before, "ee_purchases_total") + 1
    assert _value(now, "ee_revenue_cents_total") == _value(before, "ee_revenue_cents_total") + price

    def flushed():
        s = _scrape(stack)
        done = _value(s, "ee_generation_jobs_total", outcome="done") - _value(before, "ee_generation_jobs_total", outcome="done")
        offered_n = _value(s, "ee_candidates_generated_total") - _value(before, "ee_candidates_generated_total")
        posted = (_value(s, "ee_http_requests_total", route=GENERATIONS_ROUTE, method="POST", status="2xx")
                  - _value(before, "ee_http_requests_total", route=GENERATIONS_ROUTE, method="POST", status="2xx"))
        return (done, offered_n, posted) == (1, 3, 1) and s

    # The worker and the API process each flush every 5 s; the machine may be loaded.
    after = wait_for(flushed, 60, "the worker's and the API's counters to reach Redis", interval=1)

    labels = {"route": GENERATIONS_ROUTE, "method": "POST"}
    buckets = []
    for (name, pairs), value in after.items():
        bucket_labels = dict(pairs)
        if name == "ee_http_request_duration_seconds_bucket" and bucket_labels.pop("le") is not None and bucket_labels == labels:
            buckets.append((float(dict(pairs)["le"]), value))
    buckets.sort()
    assert len(buckets) == 13 and buckets[-1][0] == math.inf
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "buckets must be cumulative"
    count = _value(after, "ee_http_request_duration_seconds_count", **labels)
    assert buckets[-1][1] == count >= 1
    assert _value(after, "ee_http_request_duration_seconds_sum", **labels) > 0


def _watched(samples: dict) -> tuple[float, ...]:
    return (_value(samples, "ee_generation_jobs_total", outcome="done"), _value(samples, "ee_candidates_generated_total"),
            _value(samples, "ee_http_requests_total", route=GENERATIONS_ROUTE, method="POST", status="2xx"))


def _settled(stack) -> dict:
    """A scrape once earlier tests' counts have all reached Redis: a process holds its counts
    for up to FLUSH_S, so two scrapes that far apart must agree."""
    from effigies.monitoring.metrics import FLUSH_S

    wait_quiet()
    previous = _scrape(stack)
    for _ in range(20):
        time.sleep(FLUSH_S + 1)
        current = _scrape(stack)
        if _watched(current) == _watched(previous):
            return current
        previous = current
    raise AssertionError("the counters never settled")


def test_gauges_report_queues_workers_registry_and_health(stack):
    from effigies.db import session_scope
    from effigies.monitoring.metrics import redis_client
    from effigies.training import service as training_service

    samples = wait_for(lambda: (s := _scrape(stack)) and _value(s, "ee_workers_live") == 2 and s, 60, "both workers")
    # The queues the live workers empty have no depth a test could predict: each is reported.
    for queue in ("default", "generate", "train"):
        assert ("ee_queue_depth", (("queue", queue),)) in samples
    # A queue no worker listens to has: a training run sent there twice waits as exactly 2 messages.
    queue = f"metrics-nobody-{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        run_id = training_service.start_run(session=session, slug=draft_theme(stack, images=4), preset="quick",
                                            user_id=None, queue=queue).id
    depth = ("ee_queue_depth", (("queue", queue),))
    try:
        assert _scrape(stack)[depth] == 0  # an active run's queue is watched, empty so far
        training_service.enqueue(run_id, queue)
        assert _scrape(stack)[depth] == 1
        training_service.enqueue(run_id, queue)
        assert _scrape(stack)[depth] == 2
    finally:
        with session_scope() as session:
            training_service.request_cancel(session=session, run_id=run_id)
        redis_client().delete(queue)
    # Once its run is over, the queue is no longer reported.
    assert depth not in _scrape(stack)
    assert _value(samples, "ee_registry_entries", kind="training") > 0
    assert ("ee_registry_entries", (("kind", "sold"),)) in samples
    assert _value(samples, "ee_up", component="database") == 1 and _value(samples, "ee_up", component="redis") == 1
    assert ("ee_training_runs", (("status", "running"),)) in samples


def test_without_a_configured_token_only_an_admin_session_reads_the_metrics(stack, make_user, monkeypatch):
    """The app in this process, with EE_METRICS_TOKEN unset (the stack's server has one)."""
    from starlette.testclient import TestClient

    from effigies.api.app import create_app
    from effigies.config import get_settings

    token = _token(stack)
    monkeypatch.delenv("EE_METRICS_TOKEN")
    get_settings.cache_clear()
    try:
        assert get_settings().metrics_token is None
        admin_cookie = make_user(role="admin")[0].cookies.get("ee_session")
        user_cookie = make_user()[0].cookies.get("ee_session")
        with TestClient(create_app(), base_url="http://127.0.0.1") as app:
            assert app.get("/metrics").status_code == 401
            assert app.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 401
            assert app.get("/metrics", headers={"Authorization": "Bearer"}).status_code == 401
            app.cookies.set("ee_session", user_cookie)
            assert app.get("/metrics").status_code == 403
            app.cookies.set("ee_session", admin_cookie)
            ok = app.get("/metrics")
            assert ok.status_code == 200 and "# TYPE ee_queue_depth gauge" in ok.text
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_short_metrics_token_is_refused_and_an_empty_one_means_none(monkeypatch):
    from pydantic import ValidationError

    from effigies.config import Settings

    monkeypatch.setenv("EE_METRICS_TOKEN", "short")
    with pytest.raises(ValidationError, match="EE_METRICS_TOKEN"):
        Settings()
    monkeypatch.setenv("EE_METRICS_TOKEN", "")
    assert Settings().metrics_token is None
