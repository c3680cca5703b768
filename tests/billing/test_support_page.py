"""The support page in Chromium: an admin finds a person, grants €2.00 with a reason after a
confirmation (a double click credits once), and the person's own wallet page shows the credit."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.billing.test_support import _adjustments

pytestmark = pytest.mark.browser

REASON = "Désolé pour la panne du 12"


def test_admin_grants_a_goodwill_credit_that_the_user_then_sees(context, stack, make_user, screenshots):
    user, user_id = make_user(balance_cents=30)
    email = user.get("/api/me").json()["email"]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto("/#/login?next=/admin")
    page.get_by_label("Adresse e-mail").fill(stack.env["EE_ADMIN_EMAIL"])
    page.get_by_label("Mot de passe").fill(stack.env["EE_ADMIN_PASSWORD"])
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", level=1, name="Administration")).to_be_visible()
    page.get_by_test_id("admin-support-link").click()
    expect(page.get_by_role("heading", level=1, name="Support")).to_be_visible()

    page.get_by_label("Adresse e-mail ou identifiant").fill(email.split("@")[0][2:].upper())
    page.get_by_role("button", name="Rechercher").click()
    row = page.locator(f"[data-testid=support-results] tr[data-user-id='{user_id}']")
    expect(row).to_contain_text(email)
    expect(row).to_contain_text("0,30\u00a0€")
    row.get_by_role("button", name=f"Voir le portefeuille de {email}").click()
    wallet = page.get_by_test_id("support-wallet")
    expect(wallet.get_by_role("heading", name=f"Portefeuille de {email}")).to_be_visible()
    expect(page.get_by_test_id("support-balance")).to_have_attribute("data-cents", "30")

    # A bad amount is caught before anything is sent.
    page.get_by_label("Montant en euros").fill("deux euros")
    page.get_by_label("Motif (la personne le lit dans son historique)").fill(REASON)
    page.get_by_role("button", name="Vérifier le geste commercial").click()
    expect(page.get_by_test_id("goodwill-status")).to_contain_text("Indiquez un montant en euros")
    expect(page.get_by_label("Montant en euros")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Montant en euros").fill("2,00")
    page.get_by_role("button", name="Vérifier le geste commercial").click()
    expect(page.get_by_test_id("goodwill-question")).to_have_text(
        f"Créditer 2,00\u00a0€ sur le portefeuille de {email} (Test) ?")
    expect(page.get_by_test_id("goodwill-confirm")).to_be_focused()
    assert _adjustments(user_id) == [30]  # nothing is sent before the confirmation
    page.get_by_test_id("goodwill-confirm").dblclick()
    expect(page.get_by_test_id("goodwill-done")).to_have_text(f"2,00\u00a0€ crédités à {email}. Nouveau solde : 2,30\u00a0€.")
    expect(page.get_by_test_id("support-balance")).to_have_attribute("data-cents", "230")
    line = page.locator("[data-testid=support-history] tbody tr").first
    expect(line).to_have_attribute("data-testid", "line-adjustment")
    expect(line).to_contain_text(f"Geste commercial : {REASON}")
    expect(line).to_contain_text(stack.env["EE_ADMIN_EMAIL"].lower())
    expect(line).to_contain_text("+2,00\u00a0€")
    expect(row).to_contain_text("2,30\u00a0€")  # the results list follows
    assert _adjustments(user_id) == [30, 200]  # a double click, one credit

    # At 360 px the page still fits (wide tables scroll inside their own box).
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(screenshots / "admin-support.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The language switch redraws the page; the chosen person stays (kept in the address).
    page.get_by_role("button", name="EN", exact=True).click()
    expect(wallet.get_by_role("heading", name=f"Wallet of {email}")).to_be_visible()
    expect(page.locator("[data-testid=support-history] tbody tr").first).to_contain_text(f"Goodwill gesture: {REASON}")
    page.get_by_role("button", name="FR", exact=True).click()

    # The person's own wallet page.
    context.clear_cookies()
    context.add_cookies([{"name": "ee_session", "value": user.cookies.get("ee_session"), "url": str(user.base_url)}])
    own = context.new_page()
    own.on("pageerror", lambda exc: errors.append(str(exc)))
    own.goto("/#/wallet")
    expect(own.get_by_test_id("wallet-balance")).to_have_attribute("data-cents", "230")
    credit = own.get_by_test_id("history").get_by_test_id("line-adjustment").first
    expect(credit).to_contain_text(f"Geste commercial : {REASON}")
    expect(credit).to_contain_text("+2,00\u00a0€")
    assert errors == []
