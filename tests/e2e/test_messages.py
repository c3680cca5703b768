"""The theme page's messages never contradict each other, in Chromium on the real stack
(frontend/js/views/theme.js, wallet.js): each new state replaces the messages it makes stale.

- refused for lack of money, topped up on the wallet page, back on the theme page: no
  "insufficient balance", no top-up form, the new balance;
- a purchase after such a refusal: "It's yours!" and no top-up prompt beside it;
- a refusal after a purchase (empty wallet, then an expired proposal): only the error, the
  success gone;
- the wallet page leads back to the theme page the person came from, prominently once topped up.

The proposals are made through the API (tests/avatars/helpers.py) and come back on the page from
GET /api/themes/{slug}/proposals.
"""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.avatars.helpers import candidates
from tests.conftest import fund
from tests.e2e.test_journey import fill_test_card

pytestmark = pytest.mark.browser

SLUG = "galactic-droids"
THEME_FR = "Droïdes galactiques"
PAYMENT_TIMEOUT_MS = 60_000  # webhook round trip through localstripe

INSUFFICIENT = "Solde insuffisant"
EXPIRED = "Cette proposition a expiré"
BOUGHT = "C’est à vous"
TOPUP_TITLE = "Rechargez votre portefeuille pour acheter"
TOPPED_UP = "Portefeuille rechargé"


def euros(amount: str) -> re.Pattern[str]:
    whole, cents = amount.split(".")
    return re.compile(rf"{whole},{cents}\s?€")


def signed_in(context, user) -> tuple[Page, list[str]]:
    context.add_cookies([{"name": "ee_session", "value": user.cookies.get("ee_session"), "url": str(user.base_url)}])
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    return page, problems


def open_theme(page: Page, count: int) -> None:
    with page.expect_response(lambda r: r.url.endswith(f"/api/themes/{SLUG}/proposals")):
        page.goto(f"/#/themes/{SLUG}")
    page.wait_for_function("() => document.body.dataset.ready === 'true'")
    expect(page.get_by_test_id("candidate")).to_have_count(count)


def card(page: Page, candidate_id: str):
    return page.locator(f"[data-testid=candidate][data-candidate-id='{candidate_id}']")


def buy(page: Page, candidate_id: str) -> None:
    page.get_by_test_id("waiver").check()  # the consent to immediate delivery; stays ticked for the visit
    with page.expect_response(lambda r: r.url.endswith(f"/api/candidates/{candidate_id}/purchase")):
        card(page, candidate_id).get_by_test_id("buy").click()


def expect_only_error(page: Page, text: str) -> None:
    """One message on the page: this error; no success, no "bought" box."""
    error = page.get_by_test_id("theme-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(text)
    expect(error).to_have_class(re.compile(r"\bnotice-error\b"))
    expect(page.get_by_test_id("bought")).to_be_hidden()
    expect(page.locator("#main .notice-success:visible")).to_have_count(0)


def expect_no_topup_prompt(page: Page) -> None:
    expect(page.get_by_text(TOPUP_TITLE)).to_have_count(0)
    expect(page.locator(".inline-topup form")).to_have_count(0)
    expect(page.locator(".inline-topup")).to_be_hidden()


def pay_with_test_card(page: Page, amount: str = "1.00") -> None:
    page.get_by_role("radio", name=re.compile(r"10 avatars")).check()
    pay = page.get_by_role("button", name=re.compile("Payer " + euros(amount).pattern))
    expect(pay).to_be_enabled()
    fill_test_card(page)
    pay.click()
    expect(page.get_by_test_id("topup-status")).to_have_text(re.compile("Paiement reçu : " + euros(amount).pattern),
                                                             timeout=PAYMENT_TIMEOUT_MS)


def expire(candidate_id: str) -> None:
    from sqlalchemy import func, update

    from effigies.db import session_scope
    from effigies.generation.models import Candidate

    with session_scope() as session:
        session.execute(update(Candidate).where(Candidate.id == uuid.UUID(candidate_id))
                        .values(expires_at=func.now() - timedelta(minutes=1)))


def test_topped_up_on_the_wallet_page_the_theme_page_no_longer_says_insufficient(context, make_user):
    user, _ = make_user()
    offered = candidates(user, 2)
    page, problems = signed_in(context, user)
    open_theme(page, 2)

    buy(page, offered[0]["id"])
    expect_only_error(page, INSUFFICIENT)
    expect(page.locator(".inline-topup form")).to_be_visible()

    # Off to the wallet page through the menu, top up there, come back through the menu.
    page.get_by_role("navigation").get_by_role("link", name="Portefeuille").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Portefeuille")
    pay_with_test_card(page)
    expect(page.get_by_test_id("wallet-balance")).to_have_attribute("data-cents", "100")
    page.get_by_role("navigation").get_by_role("link", name="Thèmes").click()
    page.locator(f"[data-testid=theme-card][data-slug='{SLUG}'] a").click()
    expect(page.get_by_test_id("candidate")).to_have_count(2)

    expect(page.get_by_test_id("theme-balance")).to_contain_text(euros("1.00"))
    expect(page.get_by_test_id("theme-error")).to_be_hidden()
    expect(page.get_by_text(INSUFFICIENT)).to_have_count(0)
    expect_no_topup_prompt(page)
    expect(card(page, offered[0]["id"]).get_by_test_id("buy")).to_be_enabled()
    assert problems == []


def test_a_purchase_replaces_the_insufficient_balance_prompt(context, make_user):
    user, user_id = make_user()
    offered = candidates(user, 2)
    page, problems = signed_in(context, user)
    open_theme(page, 2)

    buy(page, offered[0]["id"])
    expect_only_error(page, INSUFFICIENT)
    expect(page.get_by_text(TOPUP_TITLE)).to_be_visible()

    # Money arrives without this page hearing of it (another tab, a goodwill gesture): the next
    # purchase goes through, and its success is the only message left.
    fund(user_id, 100)
    buy(page, offered[0]["id"])
    expect(page.get_by_test_id("bought")).to_be_visible()
    expect(page.get_by_test_id("bought")).to_contain_text(BOUGHT)
    expect(card(page, offered[0]["id"])).to_have_attribute("data-state", "sold")
    expect(page.get_by_test_id("theme-error")).to_be_hidden()
    expect_no_topup_prompt(page)
    expect(page.get_by_text(TOPPED_UP)).to_have_count(0)
    expect(page.get_by_test_id("theme-balance")).to_contain_text(euros("0.90"))
    assert problems == []


def test_a_refusal_after_a_success_shows_only_the_error(context, make_user):
    user, user_id = make_user(balance_cents=10)  # one avatar
    offered = [c["id"] for c in candidates(user, 3)]
    page, problems = signed_in(context, user)
    open_theme(page, 3)

    buy(page, offered[0])
    expect(page.get_by_test_id("bought")).to_contain_text(BOUGHT)
    expect(page.get_by_test_id("theme-balance")).to_contain_text(euros("0.00"))

    # A second purchase with the wallet now empty: the refusal replaces the success.
    buy(page, offered[1])
    expect_only_error(page, INSUFFICIENT)
    expect(card(page, offered[1])).to_have_attribute("data-state", "offered")

    # Funded meanwhile, an expired proposal: its refusal replaces the last one, form included.
    fund(user_id, 100)
    expire(offered[2])
    buy(page, offered[2])
    expect_only_error(page, EXPIRED)
    expect(page.get_by_text(INSUFFICIENT)).to_have_count(0)
    expect_no_topup_prompt(page)
    expect(card(page, offered[2])).to_have_attribute("data-state", "expired")
    # The bought one still says so on its own card.
    expect(card(page, offered[0])).to_have_attribute("data-state", "sold")
    assert problems == []


def test_the_wallet_page_leads_back_to_the_theme(context, make_user):
    user, _ = make_user()
    offered = candidates(user, 2)
    page, problems = signed_in(context, user)
    open_theme(page, 2)

    # From the theme page's "Top up" link: the wallet page names the theme it came from.
    page.get_by_test_id("theme-topup-link").click()
    expect(page).to_have_url(re.compile(r"#/wallet\?from=%2Fthemes%2Fgalactic-droids$"))
    back = page.get_by_test_id("wallet-back")
    expect(back).to_have_text(f"← Vos propositions « {THEME_FR} »")
    expect(back).to_have_attribute("href", f"#/themes/{SLUG}")
    expect(page.get_by_test_id("wallet-back-done")).to_be_hidden()

    # Once topped up, the way back is right under the balance, and has the focus.
    pay_with_test_card(page)
    done = page.get_by_test_id("wallet-back-link")
    expect(done).to_be_visible()
    expect(done).to_have_text(f"Retour à vos propositions « {THEME_FR} »")
    expect(done).to_be_focused()
    done.click()
    expect(page).to_have_url(re.compile(rf"#/themes/{SLUG}$"))
    expect(page.get_by_test_id("candidate")).to_have_count(2)
    assert [c["id"] for c in offered] == page.get_by_test_id("candidate").evaluate_all(
        "els => els.map(e => e.dataset.candidateId)")
    expect(page.get_by_test_id("theme-balance")).to_contain_text(euros("1.00"))

    # Through the menu, too (the last theme page of this tab), in English as well.
    page.locator("#lang-switch").get_by_role("button", name="EN", exact=True).click()
    page.get_by_role("navigation").get_by_role("link", name="Wallet").click()
    expect(page.get_by_test_id("wallet-back")).to_have_text("← Your proposals on “Galactic droids”")
    page.get_by_test_id("wallet-back").click()
    expect(page).to_have_url(re.compile(rf"#/themes/{SLUG}$"))
    assert problems == []
