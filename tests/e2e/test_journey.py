"""The whole journey in real Chromium, against the real stack:

sign up → open "Galactic droids" → generate → 4 candidates → regenerate → new candidates →
wallet: €1 pack, card 4242… in the (localstripe) card element → balance 1,00 € →
back to the theme, buy one → "Mes avatars" shows it, 256 px download → its public URL is a PNG
of the size asked.

Screenshots of each step land in docs/screenshots/journey-*.png.
"""
from __future__ import annotations

import re
import struct
import uuid

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

THEME_NAME = "Galactic droids"
GENERATION_TIMEOUT_MS = 180_000  # the first job also loads the generator in the worker
PAYMENT_TIMEOUT_MS = 60_000      # webhook round trip through localstripe
EURO = r"\s?€"                   # French formatting puts a narrow no-break space before €


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def shot(page: Page, screenshots, name: str) -> None:
    page.screenshot(path=str(screenshots / f"journey-{name}.png"), full_page=True)


def candidate_ids(page: Page) -> list[str]:
    return page.locator("[data-testid=candidate]").evaluate_all("els => els.map(e => e.dataset.candidateId)")


def expect_candidates_loaded(page: Page, count: int) -> None:
    cards = page.locator("[data-testid=candidate]")
    expect(cards).to_have_count(count, timeout=GENERATION_TIMEOUT_MS)
    # Every preview actually decoded (the 192 px watermarked JPEG).
    page.wait_for_function(
        """(n) => {
            const imgs = [...document.querySelectorAll('[data-testid=candidate] img')];
            return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0);
        }""",
        arg=count,
    )
    sizes = cards.locator("img").evaluate_all("els => els.map(i => [i.naturalWidth, i.naturalHeight])")
    assert all(w == h == 192 for w, h in sizes), sizes


def test_signup_generate_topup_buy_and_share(context, e2e_server, screenshots):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The theme's slug, from its English name (the French UI shows name_fr).
    themes = page.request.get(f"{e2e_server.url}/api/themes")
    assert themes.ok, themes.text()
    by_name = {t["name"]: t for t in themes.json()}
    assert THEME_NAME in by_name, f"theme {THEME_NAME!r} not published: {sorted(by_name)}"
    theme = by_name[THEME_NAME]
    slug = theme["slug"]

    # ---- home: themes, in French by default ----
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("link", name="Effigies Edification")).to_be_visible()
    card = page.locator(f"[data-testid=theme-card][data-slug='{slug}']")
    expect(card).to_be_visible()
    expect(card.get_by_role("heading")).to_have_text(theme["name_fr"] or THEME_NAME)
    expect(page.get_by_test_id("pedagogy")).to_contain_text("générateur")
    # Both dictionaries carry the same keys.
    assert page.evaluate("async () => (await import('/js/i18n.js')).missingKeys()") == {"en": [], "fr": []}
    page.wait_for_function(
        "(slug) => { const i = document.querySelector(`[data-slug='${slug}'] img`); return i && i.complete && i.naturalWidth > 0; }",
        arg=slug,
    )
    shot(page, screenshots, "1-themes")

    # ---- sign up ----
    page.get_by_role("navigation").get_by_role("link", name="Créer un compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer un compte")
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"  # .test is refused by email-validator
    page.get_by_label("Nom affiché").fill("Ada E2E")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill("correct-horse-battery")
    shot(page, screenshots, "2-signup")
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.get_by_test_id("user-name")).to_have_text("Bonjour, Ada E2E")
    balance_chip = page.locator("#balance-chip")
    expect(balance_chip).to_have_text(re.compile(r"Solde : 0,00" + EURO))

    # ---- theme: generate 4 candidates ----
    page.locator(f"[data-testid=theme-card][data-slug='{slug}'] a").click()
    expect(page).to_have_url(re.compile(rf"#/themes/{re.escape(slug)}$"))
    generate = page.get_by_test_id("generate")
    expect(generate).to_have_text("Générer")
    expect(page.get_by_test_id("theme-balance")).to_contain_text("0,10")
    generate.click()
    status = page.get_by_test_id("generation-status")
    # Queued/running states may flash by; the end state is what matters.
    expect(status).to_have_text("4 propositions prêtes.", timeout=GENERATION_TIMEOUT_MS)
    expect_candidates_loaded(page, 4)
    first_ids = candidate_ids(page)
    assert len(set(first_ids)) == 4
    expect(page.get_by_test_id("buy").first).to_have_text(re.compile(r"Acheter pour 0,10" + EURO))
    shot(page, screenshots, "3-candidates")

    # ---- regenerate: 4 new candidates ----
    expect(generate).to_have_text("Régénérer")
    # The page waits on the job's event stream and polls only if it fails. Checked on the second
    # job: the first may outlast the stream's minute while the worker loads the generator.
    job_requests: list[str] = []
    page.on("request", lambda req: "/api/generations/" in req.url and job_requests.append(req.url))
    generate.click()
    page.wait_for_function(
        """(old) => {
            const ids = [...document.querySelectorAll('[data-testid=candidate]')].map(e => e.dataset.candidateId);
            return ids.length === 4 && ids.every(id => !old.includes(id));
        }""",
        arg=first_ids,
        timeout=GENERATION_TIMEOUT_MS,
    )
    expect(status).to_have_text("4 propositions prêtes.")
    assert job_requests and all(url.endswith("/events") for url in job_requests), job_requests
    expect_candidates_loaded(page, 4)
    second_ids = candidate_ids(page)
    assert not set(first_ids) & set(second_ids)
    shot(page, screenshots, "4-regenerated")

    # ---- design board: 16 watermarked samples to download, PNG and PDF ----
    page.get_by_role("button", name="Créer la planche").click()
    expect(page.get_by_test_id("board-status")).to_have_text("Votre planche est prête.", timeout=GENERATION_TIMEOUT_MS)
    for name, kind in (("Télécharger en PNG", "image/png"), ("Télécharger en PDF", "application/pdf")):
        href = page.get_by_role("link", name=name).get_attribute("href")
        download = page.request.get(e2e_server.url + href)
        assert download.ok and download.headers["content-type"] == kind, (href, download.status)

    # ---- wallet: buy the €1 pack with the test card ----
    page.get_by_role("navigation").get_by_role("link", name="Portefeuille").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Portefeuille")
    expect(page.get_by_test_id("wallet-balance")).to_have_text(re.compile(r"^0,00" + EURO + "$"))
    page.get_by_role("radio", name=re.compile(r"10 avatars")).check()
    pay = page.get_by_role("button", name=re.compile(r"Payer 1,00" + EURO))
    expect(pay).to_be_enabled()
    # localstripe's shim renders plain inputs (placeholders number, exp_month, exp_year, cvc,
    # postal_code) straight into #card-element; the number must be 16 digits, no spaces, and the
    # year two digits (the shim prefixes "20").
    card_element = page.locator("#card-element")
    card_element.locator("input[placeholder=number]").fill("4242424242424242")
    card_element.locator("input[placeholder=exp_month]").fill("12")
    card_element.locator("input[placeholder=exp_year]").fill("34")
    card_element.locator("input[placeholder=cvc]").fill("123")
    card_element.locator("input[placeholder=postal_code]").fill("75001")
    shot(page, screenshots, "5-wallet-card")
    pay.click()
    expect(page.get_by_test_id("topup-status")).to_have_text(
        re.compile(r"Paiement reçu : 1,00" + EURO + " ajoutés"), timeout=PAYMENT_TIMEOUT_MS
    )
    expect(page.get_by_test_id("wallet-balance")).to_have_text(re.compile(r"^1,00" + EURO + "$"))
    expect(page.get_by_test_id("wallet-balance")).to_have_attribute("data-cents", "100")
    expect(balance_chip).to_have_text(re.compile(r"Solde : 1,00" + EURO))
    expect(page.get_by_test_id("history")).to_contain_text("+1,00")
    shot(page, screenshots, "6-wallet-paid")

    # ---- back to the theme: buy one candidate ----
    page.get_by_role("navigation").get_by_role("link", name="Thèmes").click()
    page.locator(f"[data-testid=theme-card][data-slug='{slug}'] a").click()
    expect_candidates_loaded(page, 4)
    assert candidate_ids(page) == second_ids, "the candidates should still be on the theme page"
    expect(page.get_by_test_id("theme-balance")).to_contain_text("1,00")
    chosen = page.locator(f"[data-testid=candidate][data-candidate-id='{second_ids[0]}']")
    with page.expect_request(lambda r: r.url.endswith("/purchase")) as purchase:
        chosen.get_by_role("button", name=re.compile(r"Acheter pour 0,10")).click()
    # A retry after a lost answer must not buy twice: the page sends an Idempotency-Key.
    assert len(purchase.value.headers.get("idempotency-key", "")) == 32
    bought = page.get_by_test_id("bought")
    expect(bought).to_contain_text("C’est à vous")
    expect(chosen).to_have_attribute("data-state", "sold")
    expect(balance_chip).to_have_text(re.compile(r"Solde : 0,90" + EURO))
    shot(page, screenshots, "7-bought")

    # ---- "Mes avatars" ----
    bought.get_by_role("link", name="Voir mes avatars").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes avatars")
    avatar = page.get_by_test_id("avatar")
    expect(avatar).to_have_count(1)
    url_input = avatar.get_by_test_id("avatar-url")
    public_url = url_input.input_value()
    assert re.match(rf"^{re.escape(e2e_server.url)}/a/[\w-]+\.png$", public_url), public_url
    expect(url_input).to_have_attribute("readonly", "")
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=avatar] img'); return i && i.complete && i.naturalWidth > 0; }"
    )
    avatar.get_by_role("button", name="Copier").click()
    expect(avatar.get_by_role("status")).to_have_text(re.compile("Adresse copiée|Copie impossible"))
    shot(page, screenshots, "8-my-avatars")

    # The 128 px link opens a new page showing a 128×128 image.
    with context.expect_page() as popup_info:
        avatar.get_by_role("link", name=re.compile(r"en 128 × 128")).click()
    popup = popup_info.value
    popup.wait_for_load_state()
    assert re.search(r"/a/[\w-]+\.png\?s=128$", popup.url), popup.url
    popup.wait_for_function("() => document.images.length && document.images[0].complete && document.images[0].naturalWidth > 0")
    assert popup.evaluate("() => [document.images[0].naturalWidth, document.images[0].naturalHeight]") == [128, 128]
    popup.close()

    # Download 256 px: a PNG file named after the avatar.
    public_id = public_url.rsplit("/", 1)[1].removesuffix(".png")
    with page.expect_download() as download_info:
        avatar.get_by_role("link", name=re.compile(r"Télécharger l’avatar .*256 × 256")).click()
    download = download_info.value
    assert download.suggested_filename == f"effigies-{public_id}-256.png"
    with open(download.path(), "rb") as handle:
        assert png_size(handle.read()) == (256, 256)

    # The public URL itself, in a fresh page: a PNG of the requested size.
    viewer = context.new_page()
    response = viewer.goto(public_url + "?s=256")
    assert response is not None and response.ok, response and response.status
    assert response.headers["content-type"].startswith("image/png")
    assert png_size(response.body()) == (256, 256)
    shot(viewer, screenshots, "9-public-url")
    viewer.close()
    for size in (64, 512):
        r = page.request.get(f"{public_url}?s={size}")
        assert r.ok and png_size(r.body()) == (size, size)

    # ---- English, remembered on the account; and a 360 px wide screen ----
    page.get_by_role("button", name="EN").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("My avatars")
    expect(page.get_by_role("navigation").get_by_role("link", name="Wallet")).to_be_visible()
    assert page.evaluate("() => localStorage.getItem('ee.locale')") == "en"
    page.wait_for_function(
        "async () => (await (await fetch('/api/me', {credentials: 'same-origin'})).json()).locale === 'en'"
    )
    page.set_viewport_size({"width": 360, "height": 780})
    page.get_by_role("navigation").get_by_role("link", name="Themes").click()
    page.locator(f"[data-testid=theme-card][data-slug='{slug}'] a").click()
    expect(page.get_by_test_id("generate")).to_have_text("Regenerate")
    expect(page.locator(f"[data-testid=candidate][data-candidate-id='{second_ids[0]}']").get_by_role("button")).to_have_text(
        "See my avatars"
    )
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360, "horizontal scroll at 360 px"
    shot(page, screenshots, "10-mobile-en")

    assert not errors, f"uncaught errors in the page: {errors}"
