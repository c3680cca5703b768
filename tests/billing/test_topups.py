import time
import uuid

import pytest

from tests.billing.stripe_helpers import deliver, event, payment_method, pending_topup, sign, wait_topup


def _fake_intent(topup_id, intent_id, amount_cents=100) -> dict:
    return {
        "id": intent_id, "object": "payment_intent", "amount": amount_cents, "currency": "eur",
        "status": "succeeded", "metadata": {"topup_id": str(topup_id)},
    }


def _topup_with_fake_intent(user_id, amount_cents=100):
    intent_id = f"pi_test_{uuid.uuid4().hex[:12]}"
    return pending_topup(user_id, amount_cents, payment_intent_id=intent_id), intent_id


def test_webhook_with_a_bad_or_stale_signature_is_400_and_credits_nothing(make_user, client, stack):
    user, user_id = make_user()
    topup_id, intent_id = _topup_with_fake_intent(user_id)
    payload = event(_fake_intent(topup_id, intent_id))
    secret = stack.env["STRIPE_WEBHOOK_SECRET"]
    stale = sign(payload, secret, timestamp=int(time.time()) - 3600)  # replayed an hour later
    tampered = sign(payload, secret).replace("v1=", "v1=0")
    for signature in (sign(payload, "whsec_wrong"), stale, tampered, "garbage", None):
        headers = {"Content-Type": "application/json"}
        if signature:
            headers["Stripe-Signature"] = signature
        response = client.post("/api/stripe/webhook", content=payload, headers=headers)
        assert response.status_code == 400, signature
        assert response.json()["error"]["code"] == "invalid_signature"
    # The signature covers the raw bytes: the same JSON re-serialised is refused too.
    reformatted = payload.replace(b'", "', b'","')
    response = client.post("/api/stripe/webhook", content=reformatted, headers={"Stripe-Signature": sign(payload, secret)})
    assert response.status_code == 400
    assert user.get("/api/wallet").json()["balance_cents"] == 0
    assert user.get(f"/api/wallet/topups/{topup_id}").json()["status"] == "pending"


def test_the_same_webhook_delivered_twice_credits_once(make_user, client, stack):
    user, user_id = make_user()
    topup_id, intent_id = _topup_with_fake_intent(user_id)
    payload = event(_fake_intent(topup_id, intent_id))
    secret = stack.env["STRIPE_WEBHOOK_SECRET"]
    outcomes = [deliver(client, payload, secret).json()["outcome"] for _ in range(2)]
    assert outcomes == ["credited", "duplicate"]
    # Stripe may also send a second, distinct event for the same payment: still one credit.
    assert deliver(client, event(_fake_intent(topup_id, intent_id)), secret).json()["outcome"] == "already_credited"
    wallet = user.get("/api/wallet").json()
    assert wallet["balance_cents"] == 100
    assert [(e["kind"], e["amount_cents"], e["topup_id"]) for e in wallet["entries"]] == [("topup", 100, str(topup_id))]
    assert user.get(f"/api/wallet/topups/{topup_id}").json()["status"] == "succeeded"


def test_a_webhook_whose_amount_differs_from_the_topup_credits_nothing(make_user, client, stack):
    user, user_id = make_user()
    topup_id, intent_id = _topup_with_fake_intent(user_id, amount_cents=100)
    response = deliver(client, event(_fake_intent(topup_id, intent_id, amount_cents=50_000)), stack.env["STRIPE_WEBHOOK_SECRET"])
    assert response.status_code == 200
    assert response.json()["outcome"] == "amount_mismatch"
    assert user.get("/api/wallet").json()["balance_cents"] == 0


def test_card_topup_through_stripe_is_credited_by_the_signed_webhook(make_user, stack):
    user, _ = make_user()
    response = user.post("/api/wallet/topups", json={"amount_cents": 100, "payment_method_id": payment_method("4242424242424242")})
    assert response.status_code == 201, response.text
    body = wait_topup(user, response.json()["id"])
    assert body["status"] == "succeeded"
    wallet = user.get("/api/wallet").json()
    assert wallet["balance_cents"] == 100
    assert wallet["entries"][0]["kind"] == "topup"
    assert wallet["entries"][0]["topup_id"] == response.json()["id"]
    assert [t["status"] for t in wallet["topups"]] == ["succeeded"]


def test_declined_card_marks_the_topup_failed_with_a_reason(make_user, stack):
    user, _ = make_user()
    response = user.post("/api/wallet/topups", json={"amount_cents": 200, "payment_method_id": payment_method("4000000000000341")})
    assert response.status_code == 201, response.text
    body = wait_topup(user, response.json()["id"])
    assert body["status"] == "failed"
    assert body["failure_message"]
    assert body["failure_code"] == "card_declined"
    wallet = user.get("/api/wallet").json()
    assert wallet["balance_cents"] == 0
    # No money moved, so no ledger line; the wallet page still shows the failed top-up and why.
    assert wallet["entries"] == []
    assert [(t["status"], t["failure_message"]) for t in wallet["topups"]] == [("failed", body["failure_message"])]


@pytest.mark.parametrize("amount", [10, 150, 0, -100])
def test_only_the_offered_packs_can_be_bought(make_user, amount):
    user, _ = make_user()
    response = user.post("/api/wallet/topups", json={"amount_cents": amount, "payment_method_id": "pm_card_visa"})
    assert response.status_code == 422
