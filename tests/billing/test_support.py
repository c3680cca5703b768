"""Wallet support through the API: find a person, read their wallet as they do (plus who adjusted
it), grant a goodwill credit once however often it is sent, and refuse bad input storing nothing."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.avatars.helpers import assert_ledger_balanced
from tests.billing.stripe_helpers import payment_method, wait_topup
from tests.conftest import wait_generation

PASSWORD = "correct-horse-battery"  # make_user's


def _adjust(admin, user_id, amount_cents, reason="Sorry for the outage", key=None, **extra):
    headers = {"Idempotency-Key": key} if key else None
    return admin.post(
        f"/api/admin/wallets/{user_id}/adjustments", json={"amount_cents": amount_cents, "reason": reason, **extra},
        headers=headers,
    )


def _adjustments(user_id) -> list[int]:
    """Every adjustment posted to this user's wallet, straight from the ledger."""
    from sqlalchemy import select

    from effigies.billing.models import LedgerAccount, LedgerEntry, LedgerTransaction
    from effigies.db import session_scope

    with session_scope() as session:
        return list(session.scalars(
            select(LedgerEntry.amount_cents)
            .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
            .where(LedgerAccount.user_id == user_id, LedgerTransaction.kind == "adjustment")
            .order_by(LedgerEntry.id)
        ))


def _balance(user) -> int:
    return user.get("/api/wallet").json()["balance_cents"]


@pytest.fixture
def admin(make_user):
    client, admin_id = make_user(role="admin")
    return client


def test_search_finds_a_user_by_part_of_the_address_or_by_id(make_user, admin):
    user, user_id = make_user(balance_cents=150)
    email = user.get("/api/me").json()["email"]
    local = email.split("@")[0]  # user-<10 hex>
    for q in (local[3:].upper(), local[:8], f"  {email}  ", str(user_id)):
        response = admin.get("/api/admin/users", params={"q": q})
        assert response.status_code == 200, (q, response.text)
        found = [u for u in response.json()["items"] if u["id"] == str(user_id)]
        assert len(found) == 1, q
        assert found[0] == {
            "id": str(user_id), "email": email, "display_name": "Test", "role": "user",
            "created_at": found[0]["created_at"], "deleted_at": None, "balance_cents": 150, "avatar_count": 0,
            "addresses": [],
        }
    by_id = admin.get("/api/admin/users", params={"q": str(user_id)}).json()
    assert [u["id"] for u in by_id["items"]] == [str(user_id)]
    # LIKE's wildcards are searched for as themselves: no address holds "%_".
    assert admin.get("/api/admin/users", params={"q": "%_"}).json()["items"] == []


def test_search_pages_are_bounded_and_do_not_overlap(make_user, admin):
    for _ in range(3):
        make_user()
    first = admin.get("/api/admin/users", params={"q": "@players.effigies", "limit": 2}).json()
    assert (len(first["items"]), first["limit"], first["offset"], first["has_more"]) == (2, 2, 0, True)
    second = admin.get("/api/admin/users", params={"q": "@players.effigies", "limit": 2, "offset": 2}).json()
    assert second["items"] and not {u["id"] for u in first["items"]} & {u["id"] for u in second["items"]}
    for params in ({"q": "players", "limit": 51}, {"q": "players", "limit": 0}, {"q": "players", "offset": -1},
                   {"q": "players", "offset": 1_001}, {"q": "players", "limit": "ten"}):
        response = admin.get("/api/admin/users", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("q", [None, "a", "  a  ", "x" * 255, "ab\x00cd", "ab\ncd"])
def test_a_bad_search_is_422_json(admin, q):
    response = admin.get("/api/admin/users", params={} if q is None else {"q": q})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in ("invalid_request", "invalid_query")


def test_support_routes_are_for_admins_only(client, make_user):
    user, user_id = make_user(balance_cents=100)
    for path in ("/api/admin/users?q=players", f"/api/admin/wallets/{user_id}"):
        assert client.get(path).status_code == 401, path
        forbidden = user.get(path)
        assert forbidden.status_code == 403, path
        assert forbidden.json()["error"]["code"] == "forbidden"
    assert _adjust(user, user_id, 500).status_code == 403
    assert _balance(user) == 100


def test_wallet_view_shows_the_owners_lines_with_top_ups_and_who_adjusted(make_user, admin, stack):
    user, user_id = make_user()
    admin_me = admin.get("/api/me").json()
    assert _adjust(admin, user_id, 100, reason="Welcome gift").status_code == 201
    paid = user.post("/api/wallet/topups", json={"amount_cents": 100, "payment_method_id": payment_method("4242424242424242")})
    assert wait_topup(user, paid.json()["id"])["status"] == "succeeded"
    declined = user.post("/api/wallet/topups", json={"amount_cents": 200, "payment_method_id": payment_method("4000000000000341")})
    assert wait_topup(user, declined.json()["id"])["status"] == "failed"
    job = user.post("/api/themes/galactic-droids/generations", json={"count": 1})
    assert job.status_code == 202, job.text
    generated = wait_generation(user, job.json()["id"])
    assert generated["status"] == "done", generated
    candidate = generated["candidates"][0]
    public_id = user.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True}).json()["avatar"]["public_id"]

    response = admin.get(f"/api/admin/wallets/{user_id}")
    assert response.status_code == 200, response.text
    view = response.json()
    own = user.get("/api/wallet").json()
    assert view["balance_cents"] == own["balance_cents"] == 190
    assert (view["user"]["id"], view["user"]["avatar_count"], view["user"]["balance_cents"]) == (str(user_id), 1, 190)
    # The same lines as the owner's page, in the same order; support also sees who adjusted.
    assert [{k: v for k, v in line.items() if k not in ("admin_id", "admin_email")} for line in view["entries"]] == own["entries"]
    assert [line["kind"] for line in view["entries"]] == ["purchase", "topup", "adjustment"]
    purchase, topup, gift = view["entries"]
    assert (purchase["amount_cents"], purchase["avatar"]["public_id"]) == (-10, public_id)
    assert (topup["amount_cents"], topup["topup_id"], topup["admin_id"]) == (100, paid.json()["id"], None)
    assert (gift["reason"], gift["admin_id"], gift["admin_email"]) == ("Welcome gift", admin_me["id"], admin_me["email"])
    assert "admin_id" not in own["entries"][2] and "admin_email" not in own["entries"][2]
    topups = {t["id"]: t for t in view["topups"]}
    assert topups[paid.json()["id"]]["status"] == "succeeded"
    failed = topups[declined.json()["id"]]
    assert (failed["status"], failed["amount_cents"], failed["failure_code"]) == ("failed", 200, "card_declined")
    assert failed["failure_message"]


def test_wallet_view_of_someone_without_a_wallet_or_of_nobody(make_user, admin):
    _, user_id = make_user()
    view = admin.get(f"/api/admin/wallets/{user_id}").json()
    assert (view["balance_cents"], view["entries"], view["topups"]) == (0, [], [])
    missing = admin.get(f"/api/admin/wallets/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "user_not_found"
    assert admin.get("/api/admin/wallets/not-a-uuid").status_code == 422


def test_a_goodwill_credit_reaches_the_users_own_history(make_user, admin):
    user, user_id = make_user(balance_cents=30)
    response = _adjust(admin, user_id, 200, reason="  Sorry for the outage  ")
    assert response.status_code == 201, response.text
    assert response.json()["balance_cents"] == 230
    own = user.get("/api/wallet").json()
    assert own["balance_cents"] == 230
    line = own["entries"][0]
    assert (line["kind"], line["amount_cents"], line["reason"]) == ("adjustment", 200, "Sorry for the outage")
    # A correction takes money back, down to zero and no further.
    assert _adjust(admin, user_id, -230, reason="Duplicate gift").json()["balance_cents"] == 0
    assert user.get("/api/wallet").json()["entries"][0]["reason"] == "Duplicate gift"
    assert_ledger_balanced()


def test_the_same_key_sent_twice_credits_once_and_replays_the_answer(make_user, admin):
    user, user_id = make_user()
    key = str(uuid.uuid4())
    first = _adjust(admin, user_id, 200, key=key)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = _adjust(admin, user_id, 200, key=key)
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (201, first.json(), "true")
    assert (_balance(user), _adjustments(user_id)) == (200, [200])
    # The key names this adjustment: the same key for another amount is a client bug, refused.
    reused = _adjust(admin, user_id, 300, key=key)
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert "different adjustment" in reused.json()["error"]["message"]
    assert (_balance(user), _adjustments(user_id)) == (200, [200])


def test_ten_concurrent_clicks_with_one_key_credit_once(make_user, admin):
    user, user_id = make_user()
    key = str(uuid.uuid4())
    admin.get("/api/config")  # the CSRF cookie, before the threads share the client
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: _adjust(admin, user_id, 200, key=key), range(10)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["transaction_id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 9
    assert (_balance(user), _adjustments(user_id)) == (200, [200])
    assert_ledger_balanced()


@pytest.mark.parametrize("body", [
    {"amount_cents": 0, "reason": "Nothing at all"},
    {"amount_cents": 10_001, "reason": "Too generous"},
    {"amount_cents": -10_001, "reason": "Too harsh"},
    {"amount_cents": "200", "reason": "A string amount"},
    {"amount_cents": 2.5, "reason": "Half a cent"},
    {"amount_cents": True, "reason": "A boolean"},
    {"amount_cents": 200},
    {"reason": "No amount"},
    {"amount_cents": 200, "reason": "  ab  "},
    {"amount_cents": 200, "reason": "x" * 501},
    {"amount_cents": 200, "reason": "two\nlines"},
    {"amount_cents": 200, "reason": "nul\x00byte"},
    {"amount_cents": 200, "reason": "Extra field", "admin_id": str(uuid.uuid4())},
    "not an object",
])
def test_bad_adjustments_are_422_and_store_nothing(make_user, admin, body):
    user, user_id = make_user(balance_cents=100)
    response = admin.post(f"/api/admin/wallets/{user_id}/adjustments", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert (_balance(user), _adjustments(user_id)) == (100, [100])


def test_refused_adjustments_are_clear_4xx_and_store_nothing(make_user, admin):
    user, user_id = make_user(balance_cents=100)
    admin_id = admin.get("/api/me").json()["id"]
    key = str(uuid.uuid4())
    below_zero = _adjust(admin, user_id, -150, key=key)
    assert below_zero.status_code == 409
    error = below_zero.json()["error"]
    assert error["code"] == "adjustment_exceeds_balance" and "€1.00" in error["message"]
    malformed = _adjust(admin, user_id, 200, key="has space")
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (422, "invalid_idempotency_key")
    assert _adjust(admin, user_id, 200, key="x" * 256).status_code == 422
    nobody = _adjust(admin, uuid.uuid4(), 200)
    assert (nobody.status_code, nobody.json()["error"]["code"]) == (404, "user_not_found")
    own = _adjust(admin, admin_id, 200)
    assert (own.status_code, own.json()["error"]["code"]) == (403, "own_wallet")
    not_json = admin.post(f"/api/admin/wallets/{user_id}/adjustments", content=b"{amount", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422 and not_json.json()["error"]["code"] == "invalid_request"
    assert (_balance(user), _adjustments(user_id)) == (100, [100])
    assert admin.get(f"/api/admin/wallets/{admin_id}").json()["balance_cents"] == 0
    # A refusal is not remembered: the same key, for a debit that fits, then works.
    fits = _adjust(admin, user_id, -50, key=key)
    assert fits.status_code == 201, fits.text
    assert (_balance(user), _adjustments(user_id)) == (50, [100, -50])


def test_a_deleted_account_cannot_be_credited(make_user, admin):
    user, user_id = make_user(balance_cents=100)
    assert user.post("/api/me/delete", json={"password": PASSWORD, "forfeit_cents": 100}).status_code == 204
    refused = _adjust(admin, user_id, 200)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "user_deleted")
    view = admin.get(f"/api/admin/wallets/{user_id}").json()  # its history stays readable
    assert view["balance_cents"] == 100 and view["user"]["deleted_at"] is not None
    assert _adjustments(user_id) == [100]
