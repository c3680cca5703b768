"""GET /api/admin/stats on the real stack: per-day activity from real generations and purchases,
and the "now" figures from the real queues, workers, registry and training runs."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from tests.avatars.helpers import candidates
from tests.monitoring.helpers import wait_quiet
from tests.training.helpers import draft_theme, wait_for

SERIES = ("jobs", "candidates", "sales", "revenue_cents")


def _stats(client, days: int = 2) -> dict:
    response = client.get(f"/api/admin/stats?days={days}")
    assert response.status_code == 200, response.text
    return response.json()


def _totals(body: dict) -> dict[str, int]:
    return {key: sum(day[key] for day in body["series"]) for key in SERIES}


def _db(sql: str, **params):
    from sqlalchemy import text

    from effigies.db import session_scope

    with session_scope() as session:
        return session.execute(text(sql), params).all()


def _utc_today() -> date:
    return _db("SELECT (now() AT TIME ZONE 'UTC')::date")[0][0]


def test_a_generation_and_a_purchase_show_in_the_day_counts(make_user, client):
    admin, _ = make_user(role="admin")
    price = client.get("/api/config").json()["price_cents"]
    wait_quiet()
    # Two days: a run that crosses midnight UTC still finds its activity in the window.
    before = _stats(admin)
    user, _ = make_user(balance_cents=100)
    offered = candidates(user, count=3)
    bought = user.post(f"/api/candidates/{offered[0]['id']}/purchase", json={"withdrawal_waiver": True})
    assert bought.status_code == 201, bought.text

    after = _stats(admin)
    delta = {key: after_value - _totals(before)[key] for key, after_value in _totals(after).items()}
    assert delta == {"jobs": 1, "candidates": 3, "sales": 1, "revenue_cents": price}
    assert after["totals"] == _totals(after)
    today = after["series"][-1]
    assert today["day"] == after["last_day"] == _utc_today().isoformat()
    assert today["sales"] >= 1 and today["revenue_cents"] >= price
    # The registry holds the sold avatar's fingerprint from the purchase on.
    assert after["now"]["registry_sold"] == before["now"]["registry_sold"] + 1


def test_every_day_of_the_period_is_listed_oldest_first_even_without_activity(make_user):
    admin, _ = make_user(role="admin")
    body = _stats(admin, days=365)
    days = [date.fromisoformat(d["day"]) for d in body["series"]]
    assert len(days) == 365 and body["days"] == 365
    assert days == [days[0] + timedelta(days=i) for i in range(365)]
    assert days[-1] == _utc_today() and body["first_day"] == days[0].isoformat()
    quiet = [d for d in body["series"] if all(d[key] == 0 for key in SERIES)]
    # This test database is hours old: almost every day of the year had no activity at all.
    assert len(quiet) >= 350
    assert _stats(admin, days=1)["series"] == body["series"][-1:]


def test_activity_is_counted_on_its_own_utc_day(make_user):
    """A generation and a sale moved three days back leave today and land on that day."""
    admin, _ = make_user(role="admin")
    user, _ = make_user(balance_cents=100)
    offered = candidates(user, count=2)
    assert user.post(f"/api/candidates/{offered[1]['id']}/purchase", json={"withdrawal_waiver": True}).status_code == 201
    wait_quiet()
    before = _stats(admin, days=7)["series"]
    job_id = _db("SELECT job_id FROM candidates WHERE id = :id", id=offered[1]["id"])[0][0]
    _db("UPDATE generation_jobs SET created_at = created_at - interval '3 days' WHERE id = :id RETURNING id", id=job_id)
    _db("UPDATE avatars SET created_at = created_at - interval '3 days' WHERE candidate_id = :id RETURNING id",
        id=offered[1]["id"])
    after = _stats(admin, days=7)["series"]
    moved = {key: [a[key] - b[key] for a, b in zip(after, before)] for key in SERIES}
    # Index 6 is today, 3 is three days ago (both in UTC).
    assert moved["jobs"][3] == 1 and moved["jobs"][6] == -1
    assert moved["candidates"][3] == 2 and moved["candidates"][6] == -2
    assert moved["sales"][3] == 1 and moved["sales"][6] == -1
    assert sum(moved["revenue_cents"]) == 0 and moved["revenue_cents"][3] > 0


@pytest.mark.parametrize("days", ["0", "366", "1000", "-3", "thirty"])
def test_days_outside_1_to_365_are_refused_with_a_json_error(make_user, days):
    admin, _ = make_user(role="admin")
    response = admin.get(f"/api/admin/stats?days={days}")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "days" in error["message"]


def test_stats_are_for_admins_only(make_user, client):
    assert client.get("/api/admin/stats").status_code == 401
    user, _ = make_user()
    response = user.get("/api/admin/stats")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


def test_now_shows_live_workers_queues_registry_and_training_runs(stack, make_user):
    from effigies.db import session_scope
    from effigies.monitoring.metrics import redis_client
    from effigies.training import service as training_service

    admin, _ = make_user(role="admin")
    # The suite runs one generate worker and one train worker (tests/conftest.py).
    now = wait_for(lambda: (n := _stats(admin)["now"])["live_workers"] == 2 and n, 60, "both workers to be seen")
    assert sorted(name.split("@")[0] for name in now["workers"]) == ["generate", "train"]
    assert {"default", "generate", "train"} <= {q["name"] for q in now["queues"]}
    assert all(isinstance(q["depth"], int) and q["depth"] >= 0 for q in now["queues"])
    sold, training = (_db("SELECT count(*) FROM registry_entries WHERE kind = :kind", kind=kind)[0][0]
                      for kind in ("sold", "training"))
    assert (now["registry_sold"], now["registry_training"], now["registry_estimated"]) == (sold, training, False)
    assert training > 0  # the shipped themes' training images

    # A run sent to a queue no worker listens to: it waits there, and the page says so.
    queue = f"stats-nobody-{uuid.uuid4().hex[:6]}"
    slug = draft_theme(stack, images=4)
    with session_scope() as session:
        run = training_service.start_run(session=session, slug=slug, preset="quick", user_id=None, queue=queue)
    try:
        training_service.enqueue(run.id, queue)
        now = _stats(admin)["now"]
        assert {q["name"]: q["depth"] for q in now["queues"]}[queue] == 1
        assert now["training_queued"] == 1 and now["training_running"] == 0
    finally:
        assert admin.post(f"/api/admin/training-runs/{run.id}/cancel").json()["status"] == "cancelled"
        redis_client().delete(queue)
    now = _stats(admin)["now"]
    assert now["training_queued"] == 0 and queue not in {q["name"] for q in now["queues"]}
