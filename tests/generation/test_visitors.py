"""Try first: a visitor (no account) generates, sees its proposals and their previews, and
signing up or logging in takes the unexpired ones into the account (effigies.generation.router,
service.adopt_visitor, accounts.router). Through the real stack: API, worker, PostgreSQL, Redis.

- the visitor id is an HttpOnly, SameSite=Lax cookie set by the first generation request; the
  database holds only its SHA-256;
- another visitor, a person and a caller without a cookie get 404 for a visitor's job, stream and
  previews (and the visitor 404 for a person's); a visitor's purchase, board, account list are 401;
- sign-up and log-in move the offered, unexpired proposals and leave the expired ones behind;
- visitors have their own, stricter rate limit, per visitor id and per address.
"""
from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import text

from effigies.config import get_settings
from tests.conftest import ApiClient, fund, sign_up, signup_link, wait_generation
from tests.generation.test_limits import assert_rate_limited, fresh_ip

SLUG = "galactic-droids"
PASSWORD = "long enough pw"
VISITOR_RATE = get_settings().generation_rate_per_visitor


@pytest.fixture
def visitor(stack):
    """A logged-out browser of its own address (so rate limits are this test's alone)."""
    clients: list[ApiClient] = []

    def factory() -> ApiClient:
        c = ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()})
        clients.append(c)
        return c

    yield factory
    for c in clients:
        c.close()


def generate(client: ApiClient, count: int = 2) -> dict:
    response = client.post(f"/api/themes/{SLUG}/generations", json={"count": count})
    assert response.status_code == 202, response.text
    body = wait_generation(client, response.json()["id"])
    assert body["status"] == "done" and len(body["candidates"]) == count, body
    return body


def proposal_ids(client: ApiClient) -> set[str]:
    response = client.get(f"/api/themes/{SLUG}/proposals")
    assert response.status_code == 200, response.text
    return {p["id"] for p in response.json()["proposals"]}


def db(sql: str, **params):
    from effigies.db import session_scope

    with session_scope() as session:
        return session.execute(text(sql), params).all()


def test_a_visitor_generates_and_sees_its_proposals_and_previews(visitor):
    client = visitor()
    response = client.post(f"/api/themes/{SLUG}/generations", json={"count": 2})
    assert response.status_code == 202, response.text
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("ee_visitor="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Max-Age=2592000" in cookie and "Path=/" in cookie
    visitor_id = client.cookies["ee_visitor"]

    job = wait_generation(client, response.json()["id"])
    assert job["status"] == "done" and len(job["candidates"]) == 2
    for candidate in job["candidates"]:
        preview = client.get(candidate["preview_url"])
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/webp"
    events = client.get(f"/api/generations/{job['id']}/events")
    assert events.status_code == 200 and '"status":"done"' in events.text
    assert proposal_ids(client) == {c["id"] for c in job["candidates"]}

    # The second request keeps the same id (its 30 days start again); the database has only its SHA-256.
    again = client.post(f"/api/themes/{SLUG}/generations", json={"count": 1})
    assert again.status_code == 202 and client.cookies["ee_visitor"] == visitor_id
    wait_generation(client, again.json()["id"])
    key = hashlib.sha256(visitor_id.encode()).hexdigest()
    rows = db("SELECT user_id, visitor FROM generation_jobs WHERE id IN (:a, :b)", a=job["id"], b=again.json()["id"])
    assert rows == [(None, key)] * 2
    assert db("SELECT user_id, visitor FROM candidates WHERE job_id = :j", j=job["id"]) == [(None, key)] * 2
    assert db("SELECT count(*) FROM candidates WHERE visitor = :v", v=visitor_id) == [(0,)]


def test_nobody_else_sees_a_visitor_s_objects_nor_a_visitor_a_person_s(visitor, make_user):
    owner = visitor()
    job = generate(owner)
    candidate = job["candidates"][0]
    other = visitor()
    generate(other, count=1)  # a visitor of its own, with a cookie
    person, _ = make_user()
    with ApiClient(base_url=str(owner.base_url), timeout=30) as nobody:  # no cookie at all
        for stranger in (other, person, nobody):
            assert stranger.get(f"/api/generations/{job['id']}").status_code == 404
            stream = stranger.get(f"/api/generations/{job['id']}/events")
            assert stream.status_code == 404 and stream.json()["error"]["code"] == "generation_not_found"
            preview = stranger.get(candidate["preview_url"])
            assert preview.status_code == 404 and preview.json()["error"]["code"] == "candidate_not_found"
            assert candidate["id"] not in proposal_ids(stranger)
        # A forged cookie (not one we hand out) is nobody, whatever it holds.
        nobody.cookies.set("ee_visitor", hashlib.sha256(owner.cookies["ee_visitor"].encode()).hexdigest())
        assert nobody.get(f"/api/generations/{job['id']}").status_code == 404

    theirs = generate(person, count=1)
    assert owner.get(f"/api/generations/{theirs['id']}").status_code == 404
    assert owner.get(theirs["candidates"][0]["preview_url"]).status_code == 404
    assert theirs["candidates"][0]["id"] not in proposal_ids(owner)


def test_a_visitor_cannot_buy_nor_use_the_account_s_pages(visitor):
    client = visitor()
    candidate = generate(client, count=1)["candidates"][0]
    purchase = client.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True})
    assert purchase.status_code == 401 and purchase.json()["error"]["code"] == "not_authenticated"
    assert client.post(f"/api/themes/{SLUG}/boards", json={"count": 16}).status_code == 401
    assert client.get("/api/me/proposals").status_code == 401
    assert db("SELECT status FROM candidates WHERE id = :c", c=candidate["id"]) == [("offered",)]


def _expire(job: dict) -> None:
    from effigies.db import session_scope

    with session_scope() as session:
        session.execute(text("UPDATE candidates SET expires_at = now() - interval '1 minute' WHERE job_id = :j"),
                        {"j": job["id"]})


def test_signing_up_takes_the_unexpired_proposals_into_the_account(visitor):
    client = visitor()
    kept, lapsed = generate(client), generate(client)
    _expire(lapsed)
    email = f"visitor-{uuid.uuid4().hex[:10]}@players.effigies.fr"
    response = sign_up(client, email, PASSWORD, "Vi")
    assert response.status_code == 200, response.text
    assert "ee_visitor" not in client.cookies  # cleared: its proposals are the account's now
    user_id = response.json()["id"]

    assert proposal_ids(client) == {c["id"] for c in kept["candidates"]}
    assert client.get(f"/api/generations/{kept['id']}").json()["status"] == "done"
    assert db("SELECT user_id::text, visitor FROM generation_jobs WHERE id = :j", j=kept["id"]) == [(user_id, None)]
    # The expired ones stay the visitor's, for the sweeper.
    assert {r.user_id for r in db("SELECT user_id FROM candidates WHERE job_id = :j", j=lapsed["id"])} == {None}
    assert client.get(f"/api/generations/{lapsed['id']}").status_code == 404

    # And the account can buy one.
    fund(uuid.UUID(user_id), 100)
    bought = client.post(f"/api/candidates/{kept['candidates'][0]['id']}/purchase", json={"withdrawal_waiver": True})
    assert bought.status_code == 201, bought.text


def test_a_sign_up_link_opened_in_another_browser_still_brings_the_proposals(visitor, stack):
    """The visitor signs up on the computer and opens the e-mail on the phone: the proposals
    follow the sign-up (its visitor id's hash is kept with it), not the browser of the link."""
    computer = visitor()
    kept = generate(computer)
    email = f"phone-{uuid.uuid4().hex[:10]}@players.effigies.fr"
    asked = computer.post("/api/auth/signup", json={"email": email, "password": PASSWORD, "display_name": "Ph"})
    assert asked.status_code == 202, asked.text
    assert proposal_ids(computer) == {c["id"] for c in kept["candidates"]}  # still the visitor's until the link
    with ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()}) as phone:
        opened = phone.post("/api/auth/signup/confirm", json={"token": signup_link(phone, email)})
        assert opened.status_code == 200, opened.text
        assert proposal_ids(phone) == {c["id"] for c in kept["candidates"]}
    assert proposal_ids(computer) == set()  # the visitor's are the account's now


def test_logging_in_takes_them_likewise(visitor, make_user):
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope

    email = f"returning-{uuid.uuid4().hex[:10]}@players.effigies.fr"
    with session_scope() as session:
        user_id = accounts_service.signup(session=session, email=email, password=PASSWORD, display_name="Re").id
    person, _ = make_user()
    earlier = generate(person, count=1)  # someone else's: never moved
    client = visitor()
    kept, lapsed = generate(client), generate(client, count=1)
    _expire(lapsed)
    response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert "ee_visitor" not in client.cookies
    assert proposal_ids(client) == {c["id"] for c in kept["candidates"]}
    assert db("SELECT DISTINCT user_id FROM candidates WHERE job_id = :j", j=kept["id"]) == [(user_id,)]
    assert db("SELECT DISTINCT user_id FROM candidates WHERE job_id = :j", j=lapsed["id"]) == [(None,)]
    assert earlier["candidates"][0]["id"] in proposal_ids(person)


def test_a_job_still_running_at_sign_up_yields_the_account_s_candidates(stack):
    """adopt_visitor moves a pending job; the worker reads its owner when it commits the images."""
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope
    from effigies.generation import jobs, service

    visitor_id = service.new_visitor_id()
    with session_scope() as session:
        job_id = service.create_job(session=session, visitor=visitor_id, slug=SLUG, count=1).id
        user_id = accounts_service.signup(session=session, email=f"late-{uuid.uuid4().hex[:10]}@players.effigies.fr",
                                          password=PASSWORD, display_name="La").id
    with session_scope() as session:
        assert service.adopt_visitor(session=session, visitor=visitor_id, user_id=user_id) == 0  # nothing offered yet
    assert jobs.run_job(job_id=job_id) == "done"
    assert db("SELECT user_id, visitor FROM candidates WHERE job_id = :j", j=job_id) == [(user_id, None)]


def test_a_forged_cookie_gets_a_fresh_visitor_id(visitor):
    client = visitor()
    client.cookies.set("ee_visitor", "not-one-of-ours")
    response = client.post(f"/api/themes/{SLUG}/generations", json={"count": 1})
    assert response.status_code == 202
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("ee_visitor="))
    assert len(cookie.split(";")[0].removeprefix("ee_visitor=")) == 43


def test_one_visitor_past_the_visitor_limit_gets_429_with_retry_after(visitor):
    client = visitor()
    generate(client, count=1)  # the cookie: every request below is the same visitor
    # Each from another address, so that only the per-visitor counter can run out. An unknown
    # theme answers 404 at once yet counts: the limit guards attempts (fixed windows: allow two).
    for sent in range(1, 2 * VISITOR_RATE + 2):
        response = client.post("/api/themes/no-such-theme/generations", json={"count": 1},
                               headers={"X-Forwarded-For": fresh_ip()})
        if response.status_code != 404:
            break
    assert_rate_limited(response)
    assert sent >= VISITOR_RATE


def test_one_address_past_the_visitor_limit_gets_429_but_people_there_do_not(visitor, make_user):
    ip = fresh_ip()
    # Visitors without a cookie (a fresh id each time, as when a script drops it) on one address.
    for sent in range(1, 2 * VISITOR_RATE + 2):
        with ApiClient(base_url=str(visitor().base_url), timeout=30, headers={"X-Forwarded-For": ip}) as fresh:
            response = fresh.post("/api/themes/no-such-theme/generations", json={"count": 1})
        if response.status_code != 404:
            break
    assert_rate_limited(response)
    assert sent > VISITOR_RATE
    person, _ = make_user()
    response = person.post("/api/themes/no-such-theme/generations", json={"count": 1}, headers={"X-Forwarded-For": ip})
    assert response.status_code == 404  # an account has its own, larger budget
