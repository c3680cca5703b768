"""Proposals survive a reload, in Chromium on the real stack (frontend/js/views/theme.js, account.js):

- theme page: generate, reload → the same proposals, in the same order; generate again → the new
  batch first, the earlier one below it ("Toujours en vente"); reload in the middle of a third
  generation → the page waits for it again and shows it first; a bought proposal is shown as bought
  and then leaves the list, an expired one disappears;
- account page: "Mes propositions" / "My proposals" lists them under their theme, with a link to
  buy; a person without any gets the empty state with a link to the themes;
- no console error for a visitor (home, theme, log-in) nor for a signed-in person (theme, account),
  and nothing wider than a 360 px phone.
"""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

SLUG = "galactic-droids"
GENERATION_TIMEOUT_MS = 180_000  # the first job also loads the generator in the worker


def watch(page: Page) -> list[str]:
    """Console errors and uncaught exceptions of the page, as a list the test reads at the end."""
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text} ({msg.location})"))
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    return problems


def signed_in(context, user) -> tuple[Page, list[str]]:
    context.add_cookies([{"name": "ee_session", "value": user.cookies.get("ee_session"), "url": str(user.base_url)}])
    page = context.new_page()
    return page, watch(page)


def ready(page: Page) -> None:
    page.wait_for_function("() => document.body.dataset.ready === 'true'")


def ids(page: Page, testid: str) -> list[str]:
    return page.locator(f"[data-testid={testid}]").evaluate_all("els => els.map(e => e.dataset.candidateId)")


def previews(page: Page, testid: str) -> list[str]:
    return page.locator(f"[data-testid={testid}] img").evaluate_all("els => els.map(i => i.getAttribute('src'))")


def images_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        "(s) => { const all = [...document.querySelectorAll(s)]; return all.length && all.every(i => i.complete && i.naturalWidth > 0); }",
        arg=selector,
    )


def open_theme(page: Page) -> None:
    """Loads the theme page and waits for its list of proposals."""
    with page.expect_response(lambda r: r.url.endswith(f"/api/themes/{SLUG}/proposals")) as answer:
        page.goto(f"/#/themes/{SLUG}")
    assert answer.value.ok, answer.value.status
    ready(page)
    expect(page.get_by_test_id("generate")).to_be_visible()


def reload_theme(page: Page) -> None:
    with page.expect_response(lambda r: r.url.endswith(f"/api/themes/{SLUG}/proposals")) as answer:
        page.reload()
    assert answer.value.ok, answer.value.status
    ready(page)


def wait_for_new_batch(page: Page, old: list[str], *, announced: bool = True) -> list[str]:
    page.wait_for_function(
        """(old) => {
            const ids = [...document.querySelectorAll('[data-testid=candidate]')].map(e => e.dataset.candidateId);
            return ids.length === 4 && ids.every(id => !old.includes(id));
        }""",
        arg=old,
        timeout=GENERATION_TIMEOUT_MS,
    )
    if announced:
        expect(page.get_by_test_id("generation-status")).to_have_text("4 propositions prêtes.")
    return ids(page, "candidate")


def fits(page: Page, where: str) -> None:
    width, scroll = page.evaluate("() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]")
    assert scroll <= width, f"{where}: horizontal scroll ({scroll} px in {width} px)"


def expire(candidate_id: str) -> None:
    from sqlalchemy import func, update

    from effigies.db import session_scope
    from effigies.generation.models import Candidate

    with session_scope() as session:
        session.execute(update(Candidate).where(Candidate.id == uuid.UUID(candidate_id))
                        .values(expires_at=func.now() - timedelta(minutes=1)))


def test_proposals_come_back_after_a_reload_and_stay_below_a_new_generation(context, make_user, e2e_server, screenshots):
    user, _ = make_user(balance_cents=100)
    theme = user.get(f"/api/themes/{SLUG}").json()
    page, problems = signed_in(context, user)

    # ---- a first generation; a reload shows the same proposals ----
    open_theme(page)
    expect(page.get_by_test_id("candidate")).to_have_count(0)
    expect(page.get_by_test_id("earlier")).to_be_hidden()
    page.get_by_test_id("generate").click()
    first = wait_for_new_batch(page, [])
    first_previews = previews(page, "candidate")
    assert len(set(first)) == 4

    reload_theme(page)
    expect(page.get_by_test_id("candidate")).to_have_count(4)
    assert ids(page, "candidate") == first, "a reload shows the same proposals, in the same order"
    assert previews(page, "candidate") == first_previews
    images_loaded(page, "[data-testid=candidate] img")
    expect(page.get_by_test_id("buy")).to_have_text([re.compile(r"^Acheter pour 0,10\s?€$")] * 4)
    expect(page.locator("[data-testid=candidate] .candidate-note")).to_have_text([re.compile(r"^Expire à \d\d:\d\d$")] * 4)
    expect(page.get_by_test_id("generate")).to_have_text("Régénérer")
    expect(page.get_by_test_id("earlier")).to_be_hidden()
    # The API says the same, newest first.
    assert [p["id"] for p in user.get(f"/api/themes/{SLUG}/proposals").json()["proposals"]] == first

    # ---- generate again: the new ones first, the earlier ones still there below ----
    page.get_by_test_id("generate").click()
    second = wait_for_new_batch(page, first)
    earlier = page.get_by_test_id("earlier")
    expect(earlier).to_be_visible()
    expect(earlier.get_by_role("heading", level=2)).to_have_text("Toujours en vente")
    assert ids(page, "earlier-candidate") == first
    assert not set(second) & set(first)

    reload_theme(page)
    expect(page.get_by_test_id("earlier-candidate")).to_have_count(4)
    assert ids(page, "candidate") == second
    assert ids(page, "earlier-candidate") == first

    # ---- reloaded in the middle of a third generation: the page waits for it again ----
    with page.expect_response(lambda r: r.url.endswith(f"/api/themes/{SLUG}/generations") and r.request.method == "POST") as started:
        page.get_by_test_id("generate").click()
    assert started.value.ok, started.value.status
    page.reload()
    # Whether the page awaited the job or found it already done (a race with the worker), the
    # batch is the newest; only a job it awaited is announced "ready".
    third = wait_for_new_batch(page, first + second, announced=False)
    expect(page.get_by_test_id("earlier-candidate")).to_have_count(8)
    assert ids(page, "earlier-candidate") == second + first
    images_loaded(page, "[data-testid=earlier-candidate] img")

    # ---- an earlier one bought: shown as bought, then gone from the list ----
    bought = first[0]
    card = page.locator(f"[data-testid=earlier-candidate][data-candidate-id='{bought}']")
    page.get_by_test_id("waiver").check()  # the consent to immediate delivery
    card.get_by_test_id("buy").click()
    expect(card).to_have_attribute("data-state", "sold")
    expect(card.get_by_test_id("buy")).to_have_text("Voir mes avatars")
    expect(page.get_by_test_id("bought")).to_be_visible()
    # ---- one expired meanwhile: it disappears ----
    gone = second[1]
    expire(gone)
    reload_theme(page)
    expect(page.get_by_test_id("earlier-candidate")).to_have_count(6)
    still = [i for i in second + first if i not in (bought, gone)]
    assert ids(page, "candidate") == third
    assert ids(page, "earlier-candidate") == still

    # ---- on a phone ----
    page.set_viewport_size({"width": 360, "height": 780})
    images_loaded(page, "[data-testid=earlier-candidate] img")
    fits(page, "theme page with earlier proposals at 360 px")
    page.get_by_test_id("earlier").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "theme-proposals-360-fr.png"))

    # ---- the account page lists them under their theme ----
    with page.expect_response(lambda r: r.url.endswith("/api/me/proposals")):
        page.goto("/#/account")
    section = page.get_by_test_id("my-proposals")
    expect(section.get_by_role("heading", level=2)).to_have_text("Mes propositions")
    group = section.locator(f"[data-testid=proposal-group][data-slug='{SLUG}']")
    expect(group.get_by_role("heading", level=3)).to_have_text(theme["name_fr"] or theme["name"])
    expect(group.get_by_test_id("proposal")).to_have_count(10)
    assert group.get_by_test_id("proposal").evaluate_all("els => els.map(e => e.dataset.candidateId)") == third + still
    expect(group.get_by_test_id("proposal-summary")).to_have_text(re.compile(r"^10 propositions — la première expire à \d\d:\d\d$"))
    images_loaded(page, "[data-testid=proposal] img")
    fits(page, "account page at 360 px")
    for link in (group.get_by_role("heading", level=3).get_by_role("link"), group.get_by_test_id("proposals-buy")):
        expect(link).to_have_attribute("href", f"#/themes/{SLUG}")
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 361, box
    # Everything else is still there.
    for form in ("Changer d’adresse e-mail", "Changer de mot de passe", "Supprimer mon compte"):
        expect(page.get_by_role("form", name=form)).to_be_visible()
    expect(page.get_by_test_id("email-section")).to_be_visible()
    page.screenshot(path=str(screenshots / "account-proposals-360-fr.png"), full_page=True)

    # In English too; the link leads to the theme page, where they are.
    page.locator("#lang-switch button[data-locale=en]").click()
    expect(section.get_by_role("heading", level=2)).to_have_text("My proposals")
    expect(group.get_by_test_id("proposal-summary")).to_have_text(re.compile(r"^10 proposals — the first expires at \d\d:\d\d"))
    expect(group.get_by_test_id("proposals-buy")).to_have_text(f"Choose and buy on “{theme['name']}”")
    group.get_by_test_id("proposals-buy").click()
    expect(page.get_by_test_id("candidate")).to_have_count(4)
    assert ids(page, "candidate") == third
    expect(page.get_by_test_id("earlier-candidate")).to_have_count(6)
    expect(page.get_by_test_id("earlier").get_by_role("heading", level=2)).to_have_text("Still on offer")

    assert problems == [], problems


def test_no_console_errors_for_a_visitor_nor_on_an_empty_account(new_context, make_user, stack):
    # ---- a visitor: home, a theme, the log-in page ----
    visitor = new_context()
    page = visitor.new_page()
    problems = watch(page)
    page.goto("/")
    ready(page)
    expect(page.locator(f"[data-testid=theme-card][data-slug='{SLUG}']")).to_be_visible()
    page.goto(f"/#/themes/{SLUG}")
    expect(page.get_by_role("link", name="Connexion").last).to_be_visible()
    expect(page.get_by_test_id("generate")).to_be_visible()  # try first: no account needed to generate
    page.goto("/#/login")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.reload()  # a cold start on the log-in page itself
    ready(page)
    assert page.evaluate("async () => (await import('/js/i18n.js')).missingKeys()") == {"en": [], "fr": []}
    assert problems == [], problems

    # ---- signed in, nothing generated yet: the theme page, then the account's empty state ----
    user, _ = make_user()
    context = new_context(viewport={"width": 360, "height": 780})
    page, problems = signed_in(context, user)
    open_theme(page)
    expect(page.get_by_test_id("candidate")).to_have_count(0)
    expect(page.get_by_test_id("earlier")).to_be_hidden()
    expect(page.get_by_test_id("generate")).to_have_text("Générer")
    with page.expect_response(lambda r: r.url.endswith("/api/me/proposals")):
        page.goto("/#/account")
    empty = page.get_by_test_id("proposals-empty")
    expect(empty).to_have_text("Aucune proposition en ce moment — choisissez un thème et lancez une génération. Voir les thèmes")
    expect(empty.get_by_role("link", name="Voir les thèmes")).to_have_attribute("href", "#/")
    fits(page, "empty account page at 360 px")
    page.locator("#lang-switch button[data-locale=en]").click()
    expect(page.get_by_test_id("proposals-empty")).to_contain_text("No proposals right now — pick a theme and generate.")
    page.get_by_test_id("proposals-empty").get_by_role("link", name="See the themes").click()
    expect(page.locator(f"[data-testid=theme-card][data-slug='{SLUG}']")).to_be_visible()
    assert problems == [], problems
