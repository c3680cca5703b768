"""Try first, in Chromium on the real stack (frontend/js/views/theme.js, auth.js): a visitor opens
a theme, generates, sees 4 proposals whose buttons say to sign up, follows one to the sign-up
form, signs up, and lands back on the theme page with the same proposals, now to buy."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser import open_signup_link
from tests.generation.test_proposals_page import SLUG, ids, images_loaded, open_theme, ready, wait_for_new_batch, watch

pytestmark = pytest.mark.browser


def test_a_visitor_generates_signs_up_to_buy_and_keeps_the_proposals(context, e2e_server, screenshots):
    page = context.new_page()
    problems = watch(page)
    open_theme(page)
    expect(page.get_by_test_id("visitor-hint")).to_be_visible()
    expect(page.get_by_test_id("candidate")).to_have_count(0)

    page.get_by_test_id("generate").click()
    proposals = wait_for_new_batch(page, [])
    assert len(set(proposals)) == 4
    images_loaded(page, "[data-testid=candidate] img")
    expect(page.get_by_test_id("buy")).to_have_text([re.compile(r"^Créer un compte pour l’acheter \(0,10\s?€\)$")] * 4)
    page.screenshot(path=str(screenshots / "try-first-visitor.png"), full_page=True)

    page.get_by_test_id("buy").first.click()
    expect(page).to_have_url(re.compile(r"#/signup\?next=(%2F|/)themes(%2F|/)" + SLUG + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer un compte")
    page.get_by_label("Nom affiché", exact=True).fill("Essai E2E")
    email = f"try-{uuid.uuid4().hex[:10]}@players.effigies.fr"
    page.get_by_label("Adresse e-mail", exact=True).fill(email)
    page.get_by_label("Mot de passe", exact=True).fill("correct-horse-battery")
    page.get_by_role("button", name="Créer mon compte").click()
    with page.expect_response(lambda r: r.url.endswith(f"/api/themes/{SLUG}/proposals")) as answer:
        open_signup_link(page, email)
    assert answer.value.ok, answer.value.status

    # Back on the theme page, signed in: the same proposals, in the same order, now to buy.
    expect(page).to_have_url(re.compile(r"#/themes/" + SLUG + "$"))
    ready(page)
    expect(page.get_by_test_id("candidate")).to_have_count(4)
    assert ids(page, "candidate") == proposals
    expect(page.get_by_test_id("buy")).to_have_text([re.compile(r"^Acheter pour 0,10\s?€$")] * 4)
    expect(page.get_by_test_id("visitor-hint")).to_have_count(0)
    images_loaded(page, "[data-testid=candidate] img")
    assert "ee_visitor" not in {c["name"] for c in context.cookies()}
    assert problems == []
