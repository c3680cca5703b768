"""The wallet page in Chromium: each history line says what it was, in French then English,
and a declined top-up shows why it credited nothing."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.avatars.helpers import candidates
from tests.billing.stripe_helpers import payment_method, wait_topup

pytestmark = pytest.mark.browser


def test_wallet_history_reads_as_sentences_in_both_languages(context, make_user):
    user, _ = make_user(balance_cents=100)  # posted as a goodwill adjustment, reason "test funds"
    candidate = candidates(user, 1)[0]
    public_id = user.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True}).json()["avatar"]["public_id"]
    declined = user.post("/api/wallet/topups", json={"amount_cents": 200, "payment_method_id": payment_method("4000000000000341")})
    assert wait_topup(user, declined.json()["id"])["status"] == "failed"

    context.add_cookies([{"name": "ee_session", "value": user.cookies.get("ee_session"), "url": str(user.base_url)}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/#/wallet")
    expect(page.get_by_test_id("wallet-balance")).to_have_attribute("data-cents", "90")
    history = page.get_by_test_id("history")
    expect(history.get_by_test_id("line-adjustment")).to_contain_text("Geste commercial : test funds")
    expect(history.get_by_test_id("line-purchase")).to_contain_text(f"Achat de l’avatar {public_id} (Droïdes galactiques)")
    expect(history.get_by_test_id("topup-failed")).to_contain_text("Recharge de 2,00\u00a0€ refusée : la carte a été refusée.")
    expect(page.locator(".topup .explain")).to_contain_text("au moins 0,50 €")  # why packs, in one sentence

    page.get_by_role("button", name="EN").click()
    expect(history.get_by_test_id("line-purchase")).to_contain_text(f"Purchase of avatar {public_id} (Galactic droids)")
    expect(history.get_by_test_id("line-adjustment")).to_contain_text("Goodwill gesture: test funds")
    expect(history.get_by_test_id("topup-failed")).to_contain_text("Top-up of €2.00 declined: the card was declined.")
    assert errors == []
