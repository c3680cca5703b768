"""The public verify page in Chromium: a shared /verify/<id> link says "Authentique" with the
certificate's facts, in French then English; a tampered certificate file is refused."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.avatars.test_purchase import _candidates

pytestmark = pytest.mark.browser


def test_verify_page_shows_a_genuine_avatar_and_refuses_a_tampered_file(context, make_user, tmp_path):
    owner, _ = make_user(balance_cents=100)
    candidate = _candidates(owner, 1)[0]
    public_id = owner.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True}).json()["avatar"]["public_id"]
    certificate = owner.get(f"/api/avatars/{public_id}/certificate").json()

    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"/verify/{public_id}")
    verdict = page.locator("[data-testid=verdict]").first
    expect(verdict).to_have_attribute("data-genuine", "true")
    expect(verdict).to_contain_text("Authentique")
    facts = page.locator("[data-testid=certificate-facts]").first
    expect(facts).to_contain_text(public_id)
    expect(facts).to_contain_text(certificate["certificate"]["image_sha256"])
    page.wait_for_function("() => { const i = document.querySelector('.verify-result img'); return i && i.complete && i.naturalWidth === 256; }")

    page.get_by_role("button", name="EN").click()
    expect(page.locator("[data-testid=verdict]").first).to_contain_text("Genuine")

    certificate["certificate"]["owner"] = "Mallory"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(certificate))
    page.get_by_label("Certificate file (.json)").set_input_files(str(forged))
    page.get_by_role("button", name="Check", exact=True).click()
    refused = page.locator(".verify-file [data-testid=verdict]")
    expect(refused).to_have_attribute("data-genuine", "false")
    expect(refused).to_contain_text("Not genuine")
    assert errors == []


def test_verify_page_says_when_ownership_ended_in_french_and_english(context, make_user, tmp_path):
    """A certificate downloaded before its owner deleted the account: genuine, ownership ended on <date>."""
    owner, _ = make_user(balance_cents=100)
    candidate = _candidates(owner, 1)[0]
    public_id = owner.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True}).json()["avatar"]["public_id"]
    certificate = owner.get(f"/api/avatars/{public_id}/certificate").json()
    balance = owner.get("/api/wallet").json()["balance_cents"]
    assert owner.post("/api/me/delete", json={"password": "correct-horse-battery", "forfeit_cents": balance}).status_code == 204
    ended_at = owner.get(f"/api/verify/{public_id}").json()["ownership"]["ended_at"]
    year = ended_at[:4]

    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"/verify/{public_id}")
    verdict = page.locator("[data-testid=verdict]").first
    expect(verdict).to_have_attribute("data-genuine", "true")
    expect(verdict).to_contain_text("Authentique")
    ended = page.locator("[data-testid=ownership-ended]").first
    expect(ended).to_have_attribute("data-ended-at", ended_at)
    expect(ended).to_contain_text("Propriété terminée le")
    expect(ended).to_contain_text(year)
    expect(ended).to_contain_text("n’a plus de propriétaire")
    expect(page.locator("[data-testid=certificate-facts]").first).to_contain_text("Compte supprimé")

    page.get_by_role("button", name="EN").click()
    expect(page.locator("[data-testid=ownership-ended]").first).to_contain_text("Ownership ended on")

    # The file downloaded while it was owned: its owner's name, and that they own it no more.
    saved = tmp_path / "certificate.json"
    saved.write_text(json.dumps(certificate))
    page.get_by_label("Certificate file (.json)").set_input_files(str(saved))
    page.get_by_role("button", name="Check", exact=True).click()
    checked = page.locator(".verify-file [data-testid=verdict]")
    expect(checked).to_have_attribute("data-genuine", "true")
    expect(checked.locator("[data-testid=ownership-ended]")).to_contain_text("Ownership ended on")
    expect(checked.locator("[data-testid=ownership-ended]")).to_contain_text(year)
    expect(checked.locator("[data-testid=certificate-facts]")).to_contain_text("Test (until the account was deleted)")
    assert errors == []
