"""Money and ownership under load, through the HTTP API: no avatar twice, no cent lost."""
from concurrent.futures import ThreadPoolExecutor

from tests.avatars.helpers import assert_ledger_balanced, candidates, purchase_count, state


def test_a_hundred_concurrent_purchases_of_one_candidate_make_one_avatar_and_one_debit(make_user):
    owner, owner_id = make_user(balance_cents=100)
    others = [make_user(balance_cents=100) for _ in range(3)]
    candidate = candidates(owner, 1)[0]
    url = f"/api/candidates/{candidate['id']}/purchase"
    # Every fifth request comes from someone else: their proposal it is not (404), whatever the timing.
    buyers = [others[i // 5 % 3][0] if i % 5 == 4 else owner for i in range(100)]
    for c in {id(b): b for b in buyers}.values():
        c.get("/api/config")  # CSRF cookie first, not 100 times at once

    with ThreadPoolExecutor(100) as pool:
        responses = list(pool.map(lambda c: (c is owner, c.post(url, json={"withdrawal_waiver": True})), buyers))

    mine = [r for is_owner, r in responses if is_owner]
    theirs = [r for is_owner, r in responses if not is_owner]
    assert len(mine) == 80 and {r.status_code for r in mine} == {201}, {r.text for r in mine if r.status_code != 201}
    assert len({r.json()["avatar"]["public_id"] for r in mine}) == 1
    assert {r.status_code for r in theirs} == {404}
    assert purchase_count(candidate["id"]) == (1, 1)
    assert state(owner_id)[:2] == (90, 1)
    assert [state(uid)[:2] for _, uid in others] == [(100, 0)] * 3
    assert_ledger_balanced()


def test_with_credit_for_k_avatars_k_plus_five_concurrent_purchases_buy_exactly_k(make_user):
    k = 3
    user, user_id = make_user(balance_cents=k * 10)
    offered = candidates(user, k + 5)
    user.get("/api/config")

    with ThreadPoolExecutor(len(offered)) as pool:
        responses = list(pool.map(lambda c: user.post(f"/api/candidates/{c['id']}/purchase", json={"withdrawal_waiver": True}), offered))

    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * k + [402] * 5, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 402} == {"insufficient_funds"}
    assert state(user_id)[:2] == (0, k)
    # Each refused purchase left nothing behind: no avatar, no ledger line.
    for candidate, response in zip(offered, responses):
        assert purchase_count(candidate["id"]) == ((1, 1) if response.status_code == 201 else (0, 0))
    wallet = user.get("/api/wallet").json()
    assert wallet["balance_cents"] == 0
    assert sorted(e["amount_cents"] for e in wallet["entries"]) == [-10] * k + [k * 10]
    assert_ledger_balanced()
