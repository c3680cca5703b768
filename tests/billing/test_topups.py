import hashlib
import hmac
import json
import time
import uuid

import pytest


def _sign(payload: bytes, secret: str) -> str:
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _pending_topup(user_id, amount_cents=100):
    from effigies.billing.models import TopUp
    from effigies.db import session_scope

    with session_scope() as session:
        topup = TopUp(user_id=user_id, amount_cents=amount_cents, stripe_payment_intent_id=f"pi_test_{uuid.uuid4().hex[:12]}")
        session.add(topup)
        session.flush()
        return topup.id, topup.stripe_payment_intent_id


def _event(topup_id, intent_id, amount_cents=100, event_id=None, type_="payment_intent.succeeded") -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": type_,
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": amount_cents,
                    "currency": "eur",
                    "status": "succeeded",
                    "metadata": {"topup_id": str(topup_id)},
                }
            },
        }
    ).encode()


def test_webhook_with_a_bad_signature_is_400_and_credits_nothing(make_user, client, stack):
    user, user_id = make_user()
    topup_id, intent_id = _pending_topup(user_id)
    payload = _event(topup_id, intent_id)
    for signature in (_sign(payload, "whsec_wrong"), "garbage", None):
        headers = {"Content-Type": "application/json"}
        if signature:
            headers["Stripe-Signature"] = signature
        response = client.post("/api/stripe/webhook", content=payload, headers=headers)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_signature"
    assert user.get("/api/wallet").json()["balance_cents"] == 0
    assert user.get(f"/api/wallet/topups/{topup_id}").json()["status"] == "pending"


def test_the_same_webhook_delivered_twice_credits_once(make_user, client, stack):
    user, user_id = make_user()
    topup_id, intent_id = _pending_topup(user_id)
    payload = _event(topup_id, intent_id)
    secret = stack.env["STRIPE_WEBHOOK_SECRET"]
    for _ in range(2):
        response = client.post(
            "/api/stripe/webhook", content=payload, headers={"Stripe-Signature": _sign(payload, secret), "Content-Type": "application/json"}
        )
        assert response.status_code == 200
    # Stripe may also send a second, distinct event for the same payment: still one credit.
    other = _event(topup_id, intent_id)
    client.post("/api/stripe/webhook", content=other, headers={"Stripe-Signature": _sign(other, secret)})
    wallet = user.get("/api/wallet").json()
    assert wallet["balance_cents"] == 100
    assert [e["amount_cents"] for e in wallet["entries"]] == [100]
    assert user.get(f"/api/wallet/topups/{topup_id}").json()["status"] == "succeeded"


def test_a_webhook_whose_amount_differs_from_the_topup_credits_nothing(make_user, client, stack):
    user, user_id = make_user()
    topup_id, intent_id = _pending_topup(user_id, amount_cents=100)
    payload = _event(topup_id, intent_id, amount_cents=50_000)
    response = client.post("/api/stripe/webhook", content=payload, headers={"Stripe-Signature": _sign(payload, stack.env["STRIPE_WEBHOOK_SECRET"])})
    assert response.status_code == 200
    assert user.get("/api/wallet").json()["balance_cents"] == 0


def _payment_method(number: str) -> str:
    from effigies.billing import stripe_gateway

    pm = stripe_gateway.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return pm.id


def _wait_topup(user, topup_id, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = user.get(f"/api/wallet/topups/{topup_id}").json()
        if body["status"] != "pending":
            return body
        time.sleep(0.2)
    raise AssertionError("top-up still pending")


def test_card_topup_through_stripe_is_credited_by_the_signed_webhook(make_user, stack):
    user, _ = make_user()
    response = user.post("/api/wallet/topups", json={"amount_cents": 100, "payment_method_id": _payment_method("4242424242424242")})
    assert response.status_code == 201, response.text
    body = _wait_topup(user, response.json()["id"])
    assert body["status"] == "succeeded"
    wallet = user.get("/api/wallet").json()
    assert wallet["balance_cents"] == 100
    assert wallet["entries"][0]["kind"] == "topup"


def test_declined_card_marks_the_topup_failed_with_a_reason(make_user, stack):
    user, _ = make_user()
    response = user.post("/api/wallet/topups", json={"amount_cents": 200, "payment_method_id": _payment_method("4000000000000341")})
    assert response.status_code == 201, response.text
    body = _wait_topup(user, response.json()["id"])
    assert body["status"] == "failed"
    assert body["failure_message"]
    assert user.get("/api/wallet").json()["balance_cents"] == 0


@pytest.mark.parametrize("amount", [10, 150, 0, -100])
def test_only_the_offered_packs_can_be_bought(make_user, amount):
    user, _ = make_user()
    response = user.post("/api/wallet/topups", json={"amount_cents": amount, "payment_method_id": "pm_card_visa"})
    assert response.status_code == 422
