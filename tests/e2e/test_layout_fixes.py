"""Fixes a tester asked for, seen in Chromium: the header and the buy buttons on one line (French,
1280 and 360 px), typed log-in input kept across a language switch, "an “Arcane sigils” avatar",
the "how it learns" page opening on its last frame with a play button and a labelled chart, and the
support desk's wallet view never printing "null"."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.avatars.helpers import candidates

pytestmark = pytest.mark.browser

# Nav links and buttons: one line of text is well under two (line height 24 px + padding).
ONE_LINE_MAX_PX = 46


def _sign_in(context, stack, client) -> None:
    context.add_cookies([{"name": "ee_session", "value": client.cookies.get("ee_session"), "url": stack.url}])


def _ready(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def _header_facts(page: Page) -> dict:
    return page.evaluate(
        """() => {
            const links = [...document.querySelectorAll('#main-nav a')].map((a) => {
                const r = a.getBoundingClientRect();
                return { text: a.textContent, top: Math.round(r.top), height: Math.round(r.height),
                         lines: a.getClientRects().length };
            });
            const box = (s) => { const el = document.querySelector(s); const r = el.getBoundingClientRect();
                                 return { top: Math.round(r.top), bottom: Math.round(r.bottom), height: Math.round(r.height) }; };
            return { links, nav: box('#main-nav'), lang: box('#lang-switch'), logo: box('.logo'),
                     tools: box('.header-tools'), header: box('.site-header'),
                     scroll: document.documentElement.scrollWidth, width: document.documentElement.clientWidth };
        }"""
    )


@pytest.mark.parametrize("width,locale", [(1280, "fr"), (360, "fr"), (1280, "en")])
def test_header_and_buy_buttons_stay_on_one_line(width, locale, context, make_user, stack, screenshots):
    # An admin has the longest header: five nav links, the balance, the log-out button.
    admin, _ = make_user(role="admin", balance_cents=100)
    candidates(admin, 4, slug="arcane-sigils")  # on sale: the theme page shows them with their buy buttons
    _sign_in(context, stack, admin)
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.add_init_script(f"localStorage.setItem('ee.locale', '{locale}')")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/#/themes/arcane-sigils")
    _ready(page)
    buy = page.get_by_test_id("buy")
    expect(buy).to_have_count(4)
    expect(buy.first).to_have_text("Acheter pour 0,10\u00a0€" if locale == "fr" else "Buy for €0.10")

    for where in ("theme", "admin"):
        if where == "admin":
            page.goto("/#/admin")
            _ready(page)
            expect(page.get_by_test_id("admin-themes")).to_be_visible()
        facts = _header_facts(page)
        label = f"{where} at {width} px ({locale})"
        assert facts["scroll"] <= facts["width"], f"{label}: the page scrolls sideways: {facts}"
        for link in facts["links"]:
            assert link["lines"] == 1 and link["height"] <= ONE_LINE_MAX_PX, f"{label}: {link['text']!r} wraps: {facts['links']}"
        if width >= 1024:
            # One row: every nav link on the same line, the language switch beside them.
            assert len({link["top"] for link in facts["links"]}) == 1, f"{label}: the nav wraps: {facts['links']}"
            assert facts["lang"]["top"] < facts["nav"]["bottom"], f"{label}: the language switch fell to a second row: {facts}"
            assert facts["header"]["height"] < 80, f"{label}: the header is not one row: {facts}"
        else:
            # Phone: whole items may go to a second nav row, never half a label; the rows stay tidy.
            assert facts["lang"]["top"] < facts["nav"]["top"], f"{label}: the language switch is not beside the logo: {facts}"
        if where == "theme":
            shapes = buy.evaluate_all(
                "els => els.map((b) => ({ h: Math.round(b.getBoundingClientRect().height), sw: b.scrollWidth, cw: b.clientWidth }))"
            )
            for shape in shapes:
                assert shape["h"] <= ONE_LINE_MAX_PX and shape["sw"] <= shape["cw"] + 1, f"{label}: a buy button wraps or overflows: {shapes}"
        else:
            # The themes table fits its box: the "Retirer" buttons are not cut off (1280 px).
            if width >= 1280:
                sizes = page.locator(".table-scroll").evaluate_all("els => els.map(e => [e.scrollWidth, e.clientWidth])")
                assert all(inner <= outer + 1 for inner, outer in sizes), f"{label}: the themes table is cut: {sizes}"
                retire = page.get_by_test_id("retire").first
                box, table = retire.bounding_box(), page.locator(".table-scroll").first.bounding_box()
                assert box["x"] + box["width"] <= table["x"] + table["width"] + 1, f"{label}: {box} outside {table}"
        page.screenshot(path=str(screenshots / f"layout-{where}-{locale}-{width}.png"), full_page=False)
    assert not errors, errors


def test_language_switch_keeps_what_was_typed(context, screenshots):
    page = context.new_page()
    page.goto("/#/login")
    _ready(page)
    page.get_by_label("Adresse e-mail").fill("ada@example.org")
    page.get_by_label("Mot de passe").fill("a secret 123")
    page.get_by_role("button", name="EN", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.get_by_label("E-mail address")).to_have_value("ada@example.org")
    expect(page.get_by_label("Password")).to_have_value("a secret 123")
    # What depends on the typed address follows it (the "forgot password" link carries it over).
    expect(page.get_by_test_id("forgot-link")).to_have_attribute("href", re.compile(r"email=ada%40example\.org"))
    page.screenshot(path=str(screenshots / "layout-login-switched.png"))

    page.goto("/#/signup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
    page.get_by_label("Display name").fill("Ada")
    page.get_by_label("E-mail address").fill("ada2@example.org")
    page.get_by_role("button", name="FR", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer un compte")
    expect(page.get_by_label("Adresse e-mail")).to_have_value("ada2@example.org")
    expect(page.locator("input[name=display_name]")).to_have_value("Ada")


def test_theme_cards_use_the_right_article(context):
    page = context.new_page()
    page.add_init_script("localStorage.setItem('ee.locale', 'en')")
    page.goto("/")
    _ready(page)
    cta = lambda slug: page.locator(f"[data-testid=theme-card][data-slug={slug}] .cta")  # noqa: E731
    expect(cta("arcane-sigils")).to_have_text("Create an “Arcane sigils” avatar →")
    expect(cta("emoji-folk")).to_have_text("Create an “Emoji folk” avatar →")
    expect(cta("galactic-droids")).to_have_text("Create a “Galactic droids” avatar →")
    expect(cta("pixel-heroes")).to_have_text("Create a “Pixel heroes” avatar →")
    page.get_by_role("button", name="FR", exact=True).click()
    expect(cta("galactic-droids")).to_have_text("Créer un avatar « Droïdes galactiques » →")
    expect(cta("arcane-sigils")).to_have_text("Créer un avatar « Sceaux arcaniques » →")
    # The training-data credits of a shipped theme read in French on a French page.
    page.goto("/#/themes/arcane-sigils")
    expect(page.locator(".attribution")).to_have_text(
        "Données d’entraînement : Silhouettes de game-icons.net par Lorc, Delapouite et leurs contributeurs (CC BY 3.0), recolorées.")
    page.get_by_role("button", name="EN", exact=True).click()
    expect(page.locator(".attribution")).to_have_text(
        "Training data: Silhouettes from game-icons.net by Lorc, Delapouite and contributors (CC BY 3.0), recoloured.")


def test_how_it_learns_opens_on_the_last_frame_and_plays_from_the_start(context, screenshots):
    page = context.new_page()
    page.goto("/#/themes/pixel-heroes/learn")
    _ready(page)
    caption = page.get_by_test_id("learn-caption")
    expect(caption).to_have_text(re.compile(r"\((\d+)/\1\)$"))  # the last frame: what it learned
    total = int(re.search(r"/(\d+)\)$", caption.inner_text()).group(1))
    assert total > 1
    scrubber = page.get_by_test_id("learn-scrubber")
    expect(scrubber).to_have_value(str(total - 1))
    page.wait_for_function("() => { const i = document.querySelector('[data-testid=learn-frame]'); return i.complete && i.naturalWidth > 0; }")
    chart = page.get_by_test_id("loss-chart")
    expect(chart.locator("[data-axis=x]")).to_have_text("Images vues")
    expect(chart.locator("[data-axis=y]")).to_have_text("Perte")
    assert chart.locator(".tick-x").count() >= 3 and chart.locator(".tick-y").count() >= 3
    page.screenshot(path=str(screenshots / "layout-learn-last-frame.png"), full_page=True)

    play = page.get_by_test_id("learn-play")
    expect(play).to_have_text("Lecture depuis le début")
    play.click()
    expect(play).to_have_text("Pause")
    expect(caption).to_have_text(re.compile(rf"\((1|2)/{total}\)$"))  # from the start
    expect(caption).to_have_text(re.compile(rf"\(([3-9]|\d\d)/{total}\)$"), timeout=10_000)  # and on it goes
    play.click()  # pause
    expect(play).to_have_text("Lecture")
    paused = caption.inner_text()
    page.wait_for_timeout(1_500)
    expect(caption).to_have_text(paused)

    page.get_by_role("button", name="EN", exact=True).click()
    chart = page.get_by_test_id("loss-chart")
    expect(chart.locator("[data-axis=x]")).to_have_text("Images seen")
    expect(chart.locator("[data-axis=y]")).to_have_text("Loss")
    # The redraw keeps the frame it was paused on (like any typed value); the button resumes from there.
    frame = re.search(r"\((\d+)/", paused).group(1)
    expect(page.get_by_test_id("learn-caption")).to_have_text(re.compile(rf"\({frame}/{total}\)$"))
    expect(page.get_by_test_id("learn-play")).to_have_text("Play")
    page.get_by_test_id("learn-scrubber").focus()
    page.keyboard.press("End")
    expect(page.get_by_test_id("learn-play")).to_have_text("Play from the start")


def test_support_wallet_never_prints_null(context, make_user, stack, screenshots):
    admin, _ = make_user(role="admin")
    user, user_id = make_user(balance_cents=30)
    bought = candidates(user, 1)[0]
    assert user.post(f"/api/candidates/{bought['id']}/purchase", json={"withdrawal_waiver": True}).status_code in (200, 201)
    _sign_in(context, stack, admin)
    page = context.new_page()
    page.goto(f"/#/admin/support?user={user_id}")
    _ready(page)
    wallet = page.get_by_test_id("support-wallet")
    expect(wallet.get_by_test_id("support-balance")).to_have_attribute("data-cents", "20")
    expect(wallet.locator("[data-testid=support-history] tbody tr")).to_have_count(2)
    for locale in ("FR", "EN"):
        page.get_by_role("button", name=locale, exact=True).click()
        expect(wallet.get_by_test_id("support-balance")).to_be_visible()
        text = wallet.inner_text()
        assert not re.search(r"\bnull\b|\bundefined\b", text), f"{locale}: {text}"
    page.get_by_role("button", name="FR", exact=True).click()
    page.screenshot(path=str(screenshots / "layout-support-wallet.png"), full_page=True)
