import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from PIL import Image

from tests.avatars.helpers import candidates as _candidates
from tests.avatars.helpers import state as _state


def test_buying_debits_ten_cents_and_hands_over_a_public_avatar(make_user, client):
    user, user_id = make_user(balance_cents=100)
    candidate = _candidates(user)[0]
    response = user.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True})
    assert response.status_code == 201, response.text
    avatar = response.json()["avatar"]
    wallet = user.get("/api/wallet").json()
    assert wallet["balance_cents"] == 90
    assert wallet["entries"][0]["amount_cents"] == -10

    mine = user.get("/api/me/avatars").json()
    assert [a["public_id"] for a in mine] == [avatar["public_id"]]

    for size in (32, 128, 512):
        image = client.get(f"/a/{avatar['public_id']}.png", params={"s": size})
        assert image.status_code == 200
        assert "immutable" in image.headers["cache-control"]
        assert Image.open(io.BytesIO(image.content)).size == (size, size)
    assert client.get(f"/a/{avatar['public_id']}.png", params={"s": 4096}).status_code == 422
    assert client.get("/a/doesnotexist0000.png").status_code == 404


def test_a_purchase_needs_the_buyers_consent_to_immediate_delivery_and_records_it(make_user):
    user, user_id = make_user(balance_cents=100)
    candidate = _candidates(user, 1)[0]
    url = f"/api/candidates/{candidate['id']}/purchase"
    before = _state(user_id)
    for body in (None, {}, {"withdrawal_waiver": False}):
        refused = user.post(url, json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "withdrawal_consent_required" and "Nothing was charged" in error["message"]
    assert user.post(url, json={"withdrawal_waiver": "yes please"}).status_code == 422
    assert _state(user_id) == before

    bought = user.post(url, json={"withdrawal_waiver": True})
    assert bought.status_code == 201, bought.text
    line = user.get("/api/wallet").json()["entries"][0]
    assert line["kind"] == "purchase" and line["amount_cents"] == -10
    assert line["withdrawal_waiver"]["wording"] == "2026-12-03"
    given = datetime.fromisoformat(line["withdrawal_waiver"]["at"])
    assert given.tzinfo is not None


def test_not_enough_credit_is_402_with_the_balance_and_nothing_changes(make_user):
    user, user_id = make_user(balance_cents=5)
    candidate = _candidates(user, 1)[0]
    before = _state(user_id)
    response = user.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True})
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "insufficient_funds"
    # What the person has, what it costs, what to do.
    assert "€0.05" in error["message"] and "€0.10" in error["message"] and "top up" in error["message"].lower()
    assert _state(user_id) == before


def test_someone_elses_candidate_is_404(make_user):
    alice, _ = make_user(balance_cents=100)
    bob, bob_id = make_user(balance_cents=100)
    candidate = _candidates(alice, 1)[0]
    response = bob.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "candidate_not_found"
    assert "generate" in response.json()["error"]["message"].lower()
    assert _state(bob_id)[:2] == (100, 0)
    assert bob.post(f"/api/candidates/{uuid.uuid4()}/purchase", json={"withdrawal_waiver": True}).status_code == 404


def test_expired_candidate_is_410(make_user):
    from effigies.db import session_scope, utcnow
    from effigies.generation.models import Candidate

    user, user_id = make_user(balance_cents=100)
    candidate = _candidates(user, 1)[0]
    with session_scope() as session:
        session.get(Candidate, uuid.UUID(candidate["id"])).expires_at = utcnow()
    response = user.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True})
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "candidate_expired"
    assert "generate" in response.json()["error"]["message"].lower()
    assert _state(user_id)[:2] == (100, 0)


def test_double_click_buys_once(make_user):
    user, user_id = make_user(balance_cents=100)
    candidate = _candidates(user, 1)[0]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: user.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True}), range(8)))
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["avatar"]["public_id"] for r in results}) == 1
    assert _state(user_id)[:2] == (90, 1)


def test_two_users_buying_the_same_candidate_at_once_make_one_avatar(make_user):
    owner, owner_id = make_user(balance_cents=100)
    other, other_id = make_user(balance_cents=100)
    candidate = _candidates(owner, 1)[0]
    url = f"/api/candidates/{candidate['id']}/purchase"
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda c: c.post(url, json={"withdrawal_waiver": True}), (owner, other))
    assert (a.status_code, b.status_code) == (201, 404)
    assert _state(owner_id)[:2] == (90, 1)
    assert _state(other_id)[:2] == (100, 0)


def test_near_duplicates_bought_at_once_by_two_users_sell_once(make_user, stack):
    """Two users hold the same image (same seed); both press buy together: one wins, one gets 409."""
    from effigies.db import session_scope
    from effigies.generation import jobs as generation_jobs
    from effigies.generation import service as generation_service

    users = [make_user(balance_cents=100) for _ in range(2)]
    with session_scope() as session:
        jobs = [generation_service.create_job(session=session, user_id=uid, slug="galactic-droids", count=1) for _, uid in users]
        jobs[1].seed = jobs[0].seed
        job_ids = [j.id for j in jobs]
    for job_id in job_ids:
        generation_jobs.run_job(job_id=job_id)
    candidate_ids = []
    for (c, _), job_id in zip(users, job_ids):
        body = c.get(f"/api/generations/{job_id}").json()
        candidate_ids.append(body["candidates"][0]["id"])
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda pair: pair[0][0].post(f"/api/candidates/{pair[1]}/purchase", json={"withdrawal_waiver": True}), zip(users, candidate_ids)))
    assert sorted(r.status_code for r in results) == [201, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["error"]["code"] == "near_duplicate_sold"
    assert "generate" in loser.json()["error"]["message"].lower()
    assert sorted(_state(uid)[:2] for _, uid in users) == [(90, 1), (100, 0)]
