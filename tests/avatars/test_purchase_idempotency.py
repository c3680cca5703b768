"""`Idempotency-Key` on purchases: the same key from the same person gets the same answer and
is charged once, even when the requests race."""
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.avatars.helpers import assert_ledger_balanced, candidates, purchase_count, state
from tests.conftest import fund


def _buy(client, candidate_id, key):
    return client.post(f"/api/candidates/{candidate_id}/purchase", json={"withdrawal_waiver": True}, headers={"Idempotency-Key": key})


def test_a_replayed_key_gets_the_same_response_and_no_second_debit(make_user):
    user, user_id = make_user(balance_cents=100)
    candidate = candidates(user, 1)[0]
    key = str(uuid.uuid4())
    first = _buy(user, candidate["id"], key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = _buy(user, candidate["id"], key)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert state(user_id)[:2] == (90, 1)
    assert purchase_count(candidate["id"]) == (1, 1)


def test_racing_requests_with_one_key_buy_once_and_all_get_the_same_answer(make_user):
    user, user_id = make_user(balance_cents=100)
    candidate = candidates(user, 1)[0]
    key = str(uuid.uuid4())
    user.get("/api/config")
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: _buy(user, candidate["id"], key), range(20)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.text for r in responses}) <= 2  # the first's own body and the stored one: same JSON
    assert len({r.json()["avatar"]["public_id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 19
    assert state(user_id)[:2] == (90, 1)
    assert_ledger_balanced()


def test_one_key_for_two_candidates_racing_buys_one_and_refuses_the_other(make_user):
    user, user_id = make_user(balance_cents=100)
    first, second = candidates(user, 2)
    key = str(uuid.uuid4())
    user.get("/api/config")
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda i: (i % 2, _buy(user, (first, second)[i % 2]["id"], key)), range(10)))
    by_candidate = {n: {r.status_code for i, r in responses if i == n} for n in (0, 1)}
    assert sorted(map(tuple, by_candidate.values())) == [(201,), (422,)], by_candidate
    refused = next(r for _, r in responses if r.status_code == 422).json()["error"]
    assert refused["code"] == "idempotency_key_reused"
    assert "different request" in refused["message"] and "new key" in refused["message"]
    assert state(user_id)[:2] == (90, 1)


def test_keys_belong_to_one_person(make_user):
    alice, alice_id = make_user(balance_cents=100)
    bob, bob_id = make_user(balance_cents=100)
    key = "shared-" + uuid.uuid4().hex
    a = _buy(alice, candidates(alice, 1)[0]["id"], key)
    b = _buy(bob, candidates(bob, 1)[0]["id"], key)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json() != b.json()
    assert "idempotent-replayed" not in b.headers
    assert state(alice_id)[:2] == state(bob_id)[:2] == (90, 1)


def test_a_refused_purchase_is_not_remembered_so_the_same_key_works_after_a_top_up(make_user):
    """Errors change nothing, so they are not stored: the retry is judged afresh."""
    user, user_id = make_user()
    candidate = candidates(user, 1)[0]
    key = str(uuid.uuid4())
    assert _buy(user, candidate["id"], key).status_code == 402
    fund(user_id, 100)
    response = _buy(user, candidate["id"], key)
    assert response.status_code == 201, response.text
    assert _buy(user, candidate["id"], key).json() == response.json()
    assert state(user_id)[:2] == (90, 1)


def test_a_malformed_key_is_422_and_buys_nothing(make_user):
    user, user_id = make_user(balance_cents=100)
    candidate = candidates(user, 1)[0]
    for key in ("has space", "x" * 256, "é"):
        response = user.post(
            f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True}, headers={"Idempotency-Key": key.encode("utf-8")}
        )
        assert response.status_code == 422, key
    assert state(user_id)[:2] == (100, 0)
