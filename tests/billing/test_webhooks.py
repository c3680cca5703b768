"""Webhooks as Stripe really sends them: late, repeated, concurrent and out of order."""
import random
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.billing.stripe_helpers import (
    declined_intent_for, deliver, event, payment_method, pending_topup, stripe_client, topup_credits, topup_row,
    webhooks_lost,
)


def _topup_paid_without_webhook(user, stack, amount_cents=200) -> tuple[str, dict]:
    """A real card top-up whose webhook got lost: Stripe says succeeded, our wallet knows nothing yet."""
    with webhooks_lost(stack) as lost:
        response = user.post(
            "/api/wallet/topups", json={"amount_cents": amount_cents, "payment_method_id": payment_method("4242424242424242")}
        )
        assert response.status_code == 201, response.text
    topup_id = response.json()["id"]
    intent = stripe_client().v1.payment_intents.retrieve(topup_row(topup_id).stripe_payment_intent_id).to_dict()
    # localstripe sent its success event, to the sink (which refused it): our wallet never heard of it.
    assert ("payment_intent.succeeded", intent["id"]) in lost.received()
    assert user.get(f"/api/wallet/topups/{topup_id}").json()["status"] == "pending"
    assert intent["status"] == "succeeded"
    return topup_id, intent


def _as_failed(intent: dict) -> dict:
    """The same intent as an earlier, failed attempt saw it (what a stale failure event carries)."""
    return {
        **intent,
        "status": "requires_payment_method",
        "last_payment_error": {"code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."},
    }


def test_ten_concurrent_deliveries_and_a_stale_failure_credit_exactly_once(make_user, client, stack):
    user, _ = make_user()
    secret = stack.env["STRIPE_WEBHOOK_SECRET"]
    topup_id, intent = _topup_paid_without_webhook(user, stack)
    succeeded = event(intent, event_id=f"evt_{uuid.uuid4().hex[:16]}")
    failed = event(_as_failed(intent), "payment_intent.payment_failed")
    payloads = [succeeded] * 10 + [failed]
    random.shuffle(payloads)
    client.get("/api/health")
    with ThreadPoolExecutor(len(payloads)) as pool:
        responses = list(pool.map(lambda p: deliver(client, p, secret), payloads))

    assert [r.status_code for r in responses] == [200] * 11, [r.text for r in responses]
    outcomes = sorted(r.json()["outcome"] for r in responses)
    # One of the two events credits (the failure re-reads the intent from Stripe: succeeded).
    assert outcomes.count("credited") == 1
    assert outcomes.count("duplicate") == 9
    assert topup_credits(topup_id) == [-200, 200]
    body = user.get(f"/api/wallet/topups/{topup_id}").json()
    assert (body["status"], body["failure_message"]) == ("succeeded", None)
    assert user.get("/api/wallet").json()["balance_cents"] == 200

    # Later still: more failure news about this payment changes nothing.
    for _ in range(2):
        assert deliver(client, event(_as_failed(intent), "payment_intent.payment_failed"), secret).json()["outcome"] == "already_credited"
    assert user.get(f"/api/wallet/topups/{topup_id}").json()["status"] == "succeeded"
    assert topup_credits(topup_id) == [-200, 200]


def test_a_failure_event_about_an_intent_that_succeeded_meanwhile_credits_it(make_user, client, stack):
    """The failure arrives first and the success never does: Stripe's current word wins."""
    user, _ = make_user()
    topup_id, intent = _topup_paid_without_webhook(user, stack, amount_cents=100)
    response = deliver(client, event(_as_failed(intent), "payment_intent.payment_failed"), stack.env["STRIPE_WEBHOOK_SECRET"])
    assert response.json()["outcome"] == "credited"
    assert user.get(f"/api/wallet/topups/{topup_id}").json()["status"] == "succeeded"
    assert user.get("/api/wallet").json()["balance_cents"] == 100


def test_a_failed_payment_marks_the_topup_failed_with_the_reason_shown_to_its_owner(make_user, client, stack):
    user, user_id = make_user()
    topup_id = pending_topup(user_id, 500)
    with webhooks_lost(stack) as lost:
        intent_id = declined_intent_for(topup_id, user_id, 500)
    assert ("payment_intent.payment_failed", intent_id) in lost.received()
    assert topup_row(topup_id).status == "pending"  # the lost failure told us nothing
    intent = stripe_client().v1.payment_intents.retrieve(intent_id).to_dict()
    payload = event(intent, "payment_intent.payment_failed")
    secret = stack.env["STRIPE_WEBHOOK_SECRET"]
    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(r.json()["outcome"] for r in pool.map(lambda _: deliver(client, payload, secret), range(4)))
    assert outcomes == ["duplicate"] * 3 + ["marked_failed"]
    body = user.get(f"/api/wallet/topups/{topup_id}").json()
    assert body["status"] == "failed"
    assert body["failure_message"] == "Your card was declined."
    assert body["failure_code"] == "card_declined"
    wallet = user.get("/api/wallet").json()
    assert wallet["balance_cents"] == 0
    assert wallet["topups"][0]["failure_message"] == "Your card was declined."
    assert topup_row(topup_id).stripe_payment_intent_id == intent_id


def test_a_failure_never_undoes_a_credit(stack, make_user):
    """Whatever Stripe says after the money arrived, the top-up stays succeeded and credited."""
    from effigies.billing import service
    from effigies.db import session_scope

    _, user_id = make_user()
    intent_id = f"pi_test_{uuid.uuid4().hex[:12]}"
    topup_id = pending_topup(user_id, 100, payment_intent_id=intent_id)
    paid = {"id": intent_id, "amount": 100, "currency": "eur", "status": "succeeded", "metadata": {"topup_id": str(topup_id)}}
    with session_scope() as session:
        assert service.apply_payment_intent(session=session, intent=paid) == "credited"
    with session_scope() as session:
        assert service.apply_payment_intent(session=session, intent=_as_failed(paid)) == "unchanged"
    row = topup_row(topup_id)
    assert (row.status, row.failure_message) == ("succeeded", None)
    assert topup_credits(topup_id) == [-100, 100]
