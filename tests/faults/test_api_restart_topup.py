"""The API dies (SIGKILL) between a card top-up and its webhook: localstripe's one delivery fails,
and the money is credited exactly once by what comes next, Stripe's redelivery of the event and
`effigies billing reconcile`, whichever runs first, both run."""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.billing.stripe_helpers import sign
from tests.conftest import ROOT
from tests.training.helpers import wait_for

CARD = "4242424242424242"

pytestmark = pytest.mark.slow


def _stripe(d, method: str, path: str, **kwargs) -> dict:
    r = httpx.request(method, d.stripe.url + path, headers={"Authorization": f"Bearer {d.stripe.secret_key}"},
                      timeout=10, trust_env=False, **kwargs)
    r.raise_for_status()
    return r.json()


def _failed_deliveries(d) -> int:
    return d.stripe.logfile.read_text(errors="replace").count('webhook "payment_intent.succeeded" failed')


def _succeeded_events(d) -> list[dict]:
    return _stripe(d, "GET", "/v1/events", params={"type": "payment_intent.succeeded"})["data"]


def _topup_then_kill_the_api(d, user: httpx.Client, amount_cents: int) -> tuple[str, str]:
    """A paid top-up whose webhook finds no API: (top-up id, payment intent id).

    The API is SIGKILLed as soon as localstripe has the payment, which it announces a second
    later: whatever the load, the webhook lands on a closed port. Depending on the moment, the
    API dies before or after answering the browser and noting the intent's id: both must work."""
    failed_before, seen = _failed_deliveries(d), {e["id"] for e in _succeeded_events(d)}
    pm = _stripe(d, "POST", "/v1/payment_methods", data={
        "type": "card", "card[number]": CARD, "card[exp_month]": "12", "card[exp_year]": "2034", "card[cvc]": "123"})
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(user.post, "/api/wallet/topups", json={"amount_cents": amount_cents, "payment_method_id": pm["id"]})
        [event] = wait_for(lambda: [e for e in _succeeded_events(d) if e["id"] not in seen], 20, "the payment",
                           interval=0.05)
        d.kill_api()
        with contextlib.suppress(httpx.HTTPError):
            answer.result(30)
    intent = event["data"]["object"]
    topup_id = intent["metadata"]["topup_id"]
    wait_for(lambda: _failed_deliveries(d) > failed_before, 10, "localstripe's webhook delivery to fail")
    assert d.sql("SELECT status FROM topups WHERE id = %s", topup_id) == [("pending",)]
    d.start_api()
    return topup_id, intent["id"]


def _redeliver(d, intent_id: str) -> str:
    """What Stripe does after a failed delivery (localstripe never does: it tries once): the same
    event, signed again, to the same endpoint."""
    [ev] = [e for e in _succeeded_events(d) if e["data"]["object"]["id"] == intent_id]
    payload = json.dumps(ev).encode()
    r = httpx.post(d.url + "/api/stripe/webhook", content=payload, timeout=30, trust_env=False,
                   headers={"Stripe-Signature": sign(payload, d.webhook_secret), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["outcome"]


def _reconcile(d) -> str:
    result = subprocess.run([sys.executable, "-m", "effigies.cli", "billing", "reconcile", "--days", "1"],
                            env=d.env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _credits(d, topup_id: str) -> list[int]:
    return sorted(r[0] for r in d.sql(
        "SELECT e.amount_cents FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id "
        "WHERE t.reference = %s", f"topup:{topup_id}"))


def test_a_topup_whose_webhook_hit_a_dead_api_is_credited_once(dedicated):
    d = dedicated
    user, _ = d.signup()
    user.get("/api/config")

    # Stripe's redelivery first, then reconcile (which finds it done), then a second redelivery.
    first, first_intent = _topup_then_kill_the_api(d, user, 200)
    assert user.get(f"/api/wallet/topups/{first}").json()["status"] == "pending"
    assert user.get("/api/wallet").json()["balance_cents"] == 0
    assert _redeliver(d, first_intent) == "credited"
    out = _reconcile(d)
    assert "0 credited" in out, out
    assert _redeliver(d, first_intent) == "duplicate"
    assert _credits(d, first) == [-200, 200]

    # Reconcile first this time; Stripe's redelivery arrives after it.
    second, second_intent = _topup_then_kill_the_api(d, user, 500)
    out = _reconcile(d)
    assert "credited (its webhook never arrived)" in next(line for line in out.splitlines() if second_intent in line)
    assert "1 credited" in out, out
    assert _redeliver(d, second_intent) == "already_credited"
    assert _reconcile(d).count("0 credited") == 1
    assert _credits(d, second) == [-500, 500]

    wallet = user.get("/api/wallet").json()
    assert wallet["balance_cents"] == 700
    assert sorted(e["amount_cents"] for e in wallet["entries"]) == [200, 500]
    assert {t["id"]: t["status"] for t in wallet["topups"]} == {first: "succeeded", second: "succeeded"}
