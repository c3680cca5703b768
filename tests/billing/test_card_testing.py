"""Card testing: stolen cards tried through our card form and top-ups are throttled per account,
and card payments pause after too many failures in a day. Refusals are counted in /metrics."""
from __future__ import annotations

import time


from tests.billing.stripe_helpers import payment_method, wait_topup
from tests.conftest import within_one_window


def _throttled(client, code: str) -> int:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics", headers={"Authorization": "Bearer test-metrics-token-0123456789"}).text
    for family in text_string_to_metric_families(text):
        if family.name == "ee_throttled":
            return int(sum(s.value for s in family.samples if s.labels.get("code") == code))
    return 0




def test_card_forms_and_top_ups_of_one_account_are_limited_per_hour(make_user):
    def check():
        user, _ = make_user()
        codes = [user.post("/api/wallet/setup-intents").status_code for _ in range(6)]
        codes += [user.post("/api/wallet/topups", json={"amount_cents": 7, "payment_method_id": "pm_x"}).status_code
                  for _ in range(5)]
        # Ten attempts in the hour, whichever they are (a bad pack still counts); the eleventh waits.
        assert codes == [201] * 6 + [422] * 4 + [429]
        refused = user.post("/api/wallet/setup-intents")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert 0 < int(refused.headers["Retry-After"]) <= 3600

    within_one_window(check)


def test_card_payments_pause_after_five_failed_top_ups_in_a_day(make_user, client):
    before = _throttled(client, "topups_paused")
    user, _ = make_user()
    declined = payment_method("4000000000000341")
    for _ in range(5):
        response = user.post("/api/wallet/topups", json={"amount_cents": 100, "payment_method_id": declined})
        assert response.status_code == 201, response.text
        assert wait_topup(user, response.json()["id"])["status"] == "failed"
    for refused in (user.post("/api/wallet/topups", json={"amount_cents": 100, "payment_method_id": declined}),
                    user.post("/api/wallet/setup-intents")):
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "topups_paused"
        assert "paused" in refused.json()["error"]["message"]
        assert 23 * 3600 < int(refused.headers["Retry-After"]) <= 24 * 3600 + 1
    # No sixth top-up was recorded, and nobody else is affected.
    assert len(user.get("/api/wallet").json()["topups"]) == 5
    other, _ = make_user()
    assert other.post("/api/wallet/setup-intents").status_code == 201
    # The refusals are watched (counters reach /metrics within the processes' flush interval).
    deadline = time.monotonic() + 30
    while _throttled(client, "topups_paused") < before + 2:
        assert time.monotonic() < deadline, "the refusals never reached /metrics"
        time.sleep(0.5)
