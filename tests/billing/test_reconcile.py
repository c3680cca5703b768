"""`effigies billing reconcile`: a lost webhook must not lose money."""
import subprocess
import sys
import time

from tests.billing.stripe_helpers import (
    declined_intent_for, payment_method, pending_topup, stripe_client, topup_credits, topup_row, webhooks_lost,
)
from tests.conftest import ROOT


def _reconcile(stack, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "effigies.cli", "billing", "reconcile", *args],
        env=stack.env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_reconcile_credits_lost_successes_fails_lost_failures_and_reports_strangers(make_user, stack):
    user, user_id = make_user()
    failed_topup = pending_topup(user_id, 200)
    with webhooks_lost(stack) as lost:
        paid = user.post("/api/wallet/topups", json={"amount_cents": 500, "payment_method_id": payment_method("4242424242424242")})
        assert paid.status_code == 201, paid.text
        declined_id = declined_intent_for(failed_topup, user_id, 200)
        stranger = stripe_client().v1.payment_intents.create(
            params={"amount": 1234, "currency": "eur", "payment_method": payment_method("4242424242424242"),
                    "payment_method_types": ["card"], "confirm": True, "metadata": {"order": "not-ours"}}
        )
    paid_id = paid.json()["id"]
    paid_intent = topup_row(paid_id).stripe_payment_intent_id
    # localstripe did send all three events, and they went to the sink (which refused them), not to us.
    assert {("payment_intent.succeeded", paid_intent), ("payment_intent.payment_failed", declined_id),
            ("payment_intent.succeeded", stranger.id)} <= lost.received()
    assert user.get(f"/api/wallet/topups/{paid_id}").json()["status"] == "pending"
    assert user.get("/api/wallet").json()["balance_cents"] == 0

    out = _reconcile(stack, "--days", "1")
    def row(intent_id: str) -> str:
        return next(line for line in out.splitlines() if intent_id in line)

    assert "credited (its webhook never arrived)" in row(paid_intent), out
    assert "top-up marked failed" in row(declined_id), out
    assert "unknown metadata" in row(stranger.id), out

    assert user.get(f"/api/wallet/topups/{paid_id}").json()["status"] == "succeeded"
    failed = user.get(f"/api/wallet/topups/{failed_topup}").json()
    assert (failed["status"], failed["failure_message"]) == ("failed", "Your card was declined.")
    assert user.get("/api/wallet").json()["balance_cents"] == 500

    # Running it again (or alongside the webhook) changes nothing.
    again = _reconcile(stack)
    assert "0 credited, 0 marked failed" in again, again
    assert topup_credits(paid_id) == [-500, 500]


def test_listing_payment_intents_follows_every_page(stack):
    from effigies.billing import stripe_gateway

    since = int(time.time()) - 1
    # Never confirmed: no webhook, nothing for our wallet.
    made = {
        stripe_client().v1.payment_intents.create(params={"amount": 100, "currency": "eur", "metadata": {"n": str(n)}}).id
        for n in range(5)
    }
    listed = [i["id"] for i in stripe_gateway.list_payment_intents(created_gte=since, page_size=2)]
    assert made <= set(listed)
    assert len(listed) == len(set(listed))
    assert not [i for i in stripe_gateway.list_payment_intents(created_gte=int(time.time()) + 60, page_size=2)]
