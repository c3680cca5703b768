"""Redis stops while people generate, and comes back empty (as a Redis without persistence does):
the API says 503 quickly and keeps serving what needs no Redis; API and worker recover by
themselves; every job accepted before the outage ends exactly once."""
from __future__ import annotations

import shutil

import httpx
import pytest

from tests.faults.servers import PASSWORD
from tests.training.helpers import wait_for

pytestmark = pytest.mark.slow


def _assert_503(response: httpx.Response, code: str | None = None) -> None:
    # "Quickly" is the clients' timeout (Dedicated.client(): 30 s): a request that hung on the
    # missing Redis would raise httpx.ReadTimeout instead of coming back.
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["message"] and (code is None or error["code"] == code), response.text


def _worker_saw_redis_go(d, log_start: int) -> bool:
    """The worker's log since `log_start` (bytes) says its broker connection broke."""
    with open(d.logs / "worker.log", "rb") as log:
        log.seek(log_start)
        return b"Connection to broker lost" in log.read()


def test_generation_survives_a_redis_outage(dedicated):
    d = dedicated
    buyer, buyer_email = d.signup()
    d.fund(buyer_email, 100)
    first = d.wait_job(buyer, d.generate(buyer))
    assert first["status"] == "done", first
    bought = buyer.post(f"/api/candidates/{first['candidates'][0]['id']}/purchase", json={"withdrawal_waiver": True})
    assert bought.status_code == 201, bought.text
    public_path = "/a/" + bought.json()["avatar"]["public_id"] + ".png"
    other, other_email = d.signup()

    # A burst the worker (2 at a time, 1.5 s each) cannot finish before Redis goes: some jobs
    # are running, the others wait in the queue. Their messages die with Redis.
    accepted = [d.generate(c) for c in (buyer, other) * 3]
    port = d.redis.port
    log_start = (d.logs / "worker.log").stat().st_size
    d.redis.stop()
    shutil.rmtree(d.redis.dir / "appendonlydir")
    (d.redis.dir / "dump.rdb").unlink(missing_ok=True)
    try:
        # Some were still waiting: their queue messages are gone for good.
        waiting = d.sql("SELECT count(*) FROM generation_jobs WHERE status = 'queued' AND id::text = ANY(%s)", accepted)
        assert waiting[0][0] >= 1, "every job had started before Redis went: nothing was lost"
        jobs_before = d.sql("SELECT count(*) FROM generation_jobs")[0][0]
        _assert_503(buyer.post("/api/themes/galactic-droids/generations", json={"count": 4}), "queue_unavailable")
        assert d.sql("SELECT count(*) FROM generation_jobs")[0][0] == jobs_before, "a refused request left a job"
        with d.client() as anonymous:
            _assert_503(anonymous.post("/api/auth/login", json={"email": other_email, "password": PASSWORD}),
                        "service_unavailable")
            assert "ee_session" not in anonymous.cookies
            # What needs no Redis keeps working: the catalogue, public avatars, a job's state.
            catalogue = anonymous.get("/api/themes")
            assert catalogue.status_code == 200, catalogue.text
            assert "galactic-droids" in catalogue.text
            image = anonymous.get(public_path)
            assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert buyer.get(f"/api/generations/{accepted[0]}").status_code == 200
        # Redis comes back only once the worker has seen it go (not after some seconds): what
        # follows tests a reconnection, not a blip nobody noticed.
        wait_for(lambda: _worker_saw_redis_go(d, log_start), 60, "the worker to lose its broker connection")
    finally:
        d.redis.start()
    assert d.redis.port == port

    # No restart of the API or the worker: they reconnect, and a new generation completes.
    assert d.api.poll() is None and d.worker.poll() is None
    response = buyer.post("/api/themes/galactic-droids/generations", json={"count": 4})
    assert response.status_code == 202, response.text
    fresh = response.json()["id"]
    assert d.wait_job(buyer, fresh, timeout=90)["status"] == "done"
    with d.client() as c:
        assert c.post("/api/auth/login", json={"email": other_email, "password": PASSWORD}).status_code == 200

    # Every job accepted before the outage ends, once: done, with its 4 candidates, no more.
    for job_id in accepted:
        owner = buyer if job_id in accepted[::2] else other
        body = d.wait_job(owner, job_id, timeout=60)
        assert body["status"] == "done", body
        assert len(body["candidates"]) == 4, body
    rows = dict(d.sql(
        "SELECT j.id::text, count(c.id) FROM generation_jobs j LEFT JOIN candidates c ON c.job_id = j.id "
        "WHERE j.id::text = ANY(%s) GROUP BY j.id", accepted + [fresh]))
    assert rows == {job_id: 4 for job_id in accepted + [fresh]}
    assert d.sql("SELECT count(*) FROM generation_jobs WHERE status IN ('queued', 'running')")[0][0] == 0


def test_a_job_pending_far_too_long_is_failed_with_a_message(dedicated):
    """Past EE_GENERATION_GIVE_UP_S (15 min) the beat's sweep stops re-sending a job and fails it."""
    d = dedicated
    user, email = d.signup()
    done = d.wait_job(user, d.generate(user, count=1))
    assert done["status"] == "done"
    stale = str(d.sql(
        "INSERT INTO generation_jobs (id, user_id, theme_id, model_version_id, count, seed, status, "
        "rejected_near_duplicates, created_at) SELECT gen_random_uuid(), user_id, theme_id, model_version_id, 4, 7, "
        "'queued', 0, now() - interval '1 hour' FROM generation_jobs WHERE id = %s RETURNING id", done["id"])[0][0])
    body = d.wait_job(user, stale, timeout=30)
    assert body["status"] == "failed" and "try again" in body["error"], body
    assert body["candidates"] == []
