"""The consumer journey in real Chromium, against the real stack, once in French and once in English:

pick the language (remembered after a reload) → sign up → open "Galactic droids" → generate →
4 candidates → regenerate → new candidates → design board → wallet: €1 pack, card 4242… in the
(localstripe) card element → balance 1 € → back to the theme, buy one → "My avatars": 256 px
download, copy the public URL (read back from the clipboard) → the public URL is a PNG of the
size asked → the avatar's verify page says it is genuine.

Every visible text is checked in the language of the run. Screenshots go where the `screenshots`
fixture says (tests/browser.py), named <page>-<lang>.png.
"""
from __future__ import annotations

import re
import struct
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser import open_signup_link

pytestmark = pytest.mark.browser

THEME_NAME = "Galactic droids"
GENERATION_TIMEOUT_MS = 180_000  # the first job also loads the generator in the worker
PAYMENT_TIMEOUT_MS = 60_000      # webhook round trip through localstripe


def euros(amount: str, lang: str) -> str:
    """A regex for an amount as Intl writes it: "1,00 €" (a no-break space before €) or "€1.00"."""
    whole, cents = amount.split(".")
    return rf"{whole},{cents}\s?€" if lang == "fr" else rf"€{whole}\.{cents}"


# What the page says, per language (frontend/js/strings/*.js), where the journey looks.
TEXT = {
    "fr": {
        "switch": "FR", "other": "EN", "signup_nav": "Créer un compte", "signup_title": "Créer un compte",
        "display_name": "Nom affiché", "email": "Adresse e-mail", "password": "Mot de passe",
        "signup_submit": "Créer mon compte", "hello": "Bonjour, Ada E2E", "balance": "Solde : ",
        "pedagogy": "générateur", "generate": "Générer", "regenerate": "Régénérer",
        "ready": "4 propositions prêtes.", "buy": "Acheter pour ",
        "waiver_required": "Pour acheter, cochez la case au-dessus des propositions", "board": "Créer la planche",
        "board_ready": "Votre planche est prête.", "board_png": "Télécharger en PNG", "board_pdf": "Télécharger en PDF",
        "wallet": "Portefeuille", "pay": "Payer ", "paid": "Paiement reçu : ", "themes": "Thèmes",
        "bought": "C’est à vous", "see_avatars": "Voir mes avatars", "avatars": "Mes avatars", "copy": "Copier",
        "copied": "Adresse copiée.", "open_128": r"en 128 × 128", "download_256": r"Télécharger l’avatar .*256 × 256 pixels \(fichier PNG\)",
        "verify_link": "Page de vérification", "verify_title": "Vérifier un avatar", "genuine": "Authentique.",
        "owner": "Propriétaire",
    },
    "en": {
        "switch": "EN", "other": "FR", "signup_nav": "Sign up", "signup_title": "Create an account",
        "display_name": "Display name", "email": "E-mail address", "password": "Password",
        "signup_submit": "Create my account", "hello": "Hello, Ada E2E", "balance": "Balance: ",
        "pedagogy": "generator", "generate": "Generate", "regenerate": "Regenerate",
        "ready": "4 proposals ready.", "buy": "Buy for ",
        "waiver_required": "To buy, tick the box above the proposals", "board": "Make the board",
        "board_ready": "Your board is ready.", "board_png": "Download as PNG", "board_pdf": "Download as PDF",
        "wallet": "Wallet", "pay": "Pay ", "paid": "Payment received: ", "themes": "Themes",
        "bought": "It’s yours", "see_avatars": "See my avatars", "avatars": "My avatars", "copy": "Copy",
        "copied": "Address copied.", "open_128": r"at 128 × 128", "download_256": r"Download avatar .*256 × 256 pixels \(PNG file\)",
        "verify_link": "Verification page", "verify_title": "Verify an avatar", "genuine": "Genuine.",
        "owner": "Owner",
    },
}


def fill_test_card(page: Page) -> None:
    """The test card 4242… in localstripe's shim: plain inputs (placeholders number, exp_month,
    exp_year, cvc, postal_code) in #card-element; 16 digits, no spaces, a two-digit year."""
    card = page.locator("#card-element")
    for placeholder, value in (("number", "4242424242424242"), ("exp_month", "12"), ("exp_year", "34"),
                               ("cvc", "123"), ("postal_code", "75001")):
        card.locator(f"input[placeholder={placeholder}]").fill(value)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def candidate_ids(page: Page) -> list[str]:
    return page.locator("[data-testid=candidate]").evaluate_all("els => els.map(e => e.dataset.candidateId)")


def expect_candidates_loaded(page: Page, count: int) -> None:
    cards = page.locator("[data-testid=candidate]")
    expect(cards).to_have_count(count, timeout=GENERATION_TIMEOUT_MS)
    # Every preview actually decoded (the 256 px watermarked WebP).
    page.wait_for_function(
        """(n) => {
            const imgs = [...document.querySelectorAll('[data-testid=candidate] img')];
            return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0);
        }""",
        arg=count,
    )
    sizes = cards.locator("img").evaluate_all("els => els.map(i => [i.naturalWidth, i.naturalHeight])")
    assert all(w == h == 256 for w, h in sizes), sizes


def open_theme(page: Page, slug: str) -> None:
    page.locator(f"[data-testid=theme-card][data-slug='{slug}'] a").click()
    expect(page).to_have_url(re.compile(rf"#/themes/{re.escape(slug)}$"))


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_signup_generate_topup_buy_share_and_verify(lang, context, e2e_server, screenshots):
    say = TEXT[lang]
    money = lambda amount: euros(amount, lang)  # noqa: E731
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    theme = {t["name"]: t for t in page.request.get(f"{e2e_server.url}/api/themes").json()}.get(THEME_NAME)
    assert theme and theme["status"] == "published", f"theme {THEME_NAME!r} not published"
    slug = theme["slug"]
    name = theme["name_fr"] if lang == "fr" else theme["name"]

    # ---- home: switch languages; the choice survives a reload ----
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")  # French by default
    lang_switch = page.locator("#lang-switch")
    lang_switch.get_by_role("button", name=say["other"], exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", say["other"].lower())
    lang_switch.get_by_role("button", name=say["switch"], exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(lang_switch.get_by_role("button", name=say["switch"], exact=True)).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("() => localStorage.getItem('ee.locale')") == lang
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link", name=say["signup_nav"])).to_be_visible()
    card = page.locator(f"[data-testid=theme-card][data-slug='{slug}']")
    expect(card.get_by_role("heading")).to_have_text(name)
    expect(page.get_by_test_id("pedagogy")).to_contain_text(say["pedagogy"])
    # Both dictionaries carry the same keys.
    assert page.evaluate("async () => (await import('/js/i18n.js')).missingKeys()") == {"en": [], "fr": []}
    page.wait_for_function(
        "(slug) => { const i = document.querySelector(`[data-slug='${slug}'] img`); return i && i.complete && i.naturalWidth > 0; }",
        arg=slug,
    )
    if lang == "fr":  # the same cards in English: one picture of them is enough
        page.screenshot(path=str(screenshots / "home-fr.png"))

    # ---- sign up; the account takes the language chosen on this device ----
    nav.get_by_role("link", name=say["signup_nav"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(say["signup_title"])
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"  # .test is refused by email-validator
    page.get_by_label(say["display_name"], exact=True).fill("Ada E2E")
    page.get_by_label(say["email"], exact=True).fill(email)
    page.get_by_label(say["password"], exact=True).fill("correct-horse-battery")
    page.get_by_role("button", name=say["signup_submit"]).click()
    expect(page.get_by_test_id("signup-sent")).to_contain_text(email)
    page.screenshot(path=str(screenshots / f"signup-sent-{lang}.png"))
    open_signup_link(page, email)
    expect(page.get_by_test_id("user-name")).to_have_text(say["hello"])
    balance_chip = page.locator("#balance-chip")
    expect(balance_chip).to_have_text(re.compile(say["balance"] + money("0.00")))
    page.wait_for_function(
        "async (lang) => (await (await fetch('/api/me', {credentials: 'same-origin'})).json()).locale === lang", arg=lang
    )

    # ---- theme: generate 4 candidates ----
    open_theme(page, slug)
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    generate = page.get_by_test_id("generate")
    expect(generate).to_have_text(say["generate"])
    expect(page.get_by_test_id("theme-balance")).to_contain_text(re.compile(money("0.10")))
    generate.click()
    status = page.get_by_test_id("generation-status")
    # Queued/running states may flash by; the end state is what matters.
    expect(status).to_have_text(say["ready"], timeout=GENERATION_TIMEOUT_MS)
    expect_candidates_loaded(page, 4)
    first_ids = candidate_ids(page)
    assert len(set(first_ids)) == 4
    expect(page.get_by_test_id("buy")).to_have_text([re.compile("^" + say["buy"] + money("0.10") + "$")] * 4)

    # ---- regenerate: 4 new candidates ----
    expect(generate).to_have_text(say["regenerate"])
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
    expect(status).to_have_text(say["ready"])
    assert job_requests and all(url.endswith("/events") for url in job_requests), job_requests
    expect_candidates_loaded(page, 4)
    second_ids = candidate_ids(page)
    assert not set(first_ids) & set(second_ids)
    page.screenshot(path=str(screenshots / f"theme-{lang}.png"))

    # ---- design board: 16 watermarked samples to download, PNG and PDF ----
    page.get_by_role("button", name=say["board"]).click()
    expect(page.get_by_test_id("board-status")).to_have_text(say["board_ready"], timeout=GENERATION_TIMEOUT_MS)
    for label, kind in ((say["board_png"], "image/png"), (say["board_pdf"], "application/pdf")):
        href = page.get_by_role("link", name=label).get_attribute("href")
        download = page.request.get(e2e_server.url + href)
        assert download.ok and download.headers["content-type"] == kind, (href, download.status)

    # ---- wallet: buy the €1 pack with the test card ----
    nav.get_by_role("link", name=say["wallet"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(say["wallet"])
    expect(page.get_by_test_id("wallet-balance")).to_have_text(re.compile("^" + money("0.00") + "$"))
    page.get_by_role("radio", name=re.compile(r"10 avatars")).check()
    pay = page.get_by_role("button", name=re.compile(say["pay"] + money("1.00")))
    expect(pay).to_be_enabled()
    fill_test_card(page)
    pay.click()
    expect(page.get_by_test_id("topup-status")).to_have_text(
        re.compile(say["paid"] + money("1.00")), timeout=PAYMENT_TIMEOUT_MS
    )
    expect(page.get_by_test_id("wallet-balance")).to_have_text(re.compile("^" + money("1.00") + "$"))
    expect(page.get_by_test_id("wallet-balance")).to_have_attribute("data-cents", "100")
    expect(balance_chip).to_have_text(re.compile(say["balance"] + money("1.00")))
    expect(page.get_by_test_id("history")).to_contain_text(re.compile(money("1.00")))
    page.screenshot(path=str(screenshots / f"wallet-{lang}.png"), full_page=True)

    # ---- back to the theme: buy one candidate ----
    nav.get_by_role("link", name=say["themes"]).click()
    open_theme(page, slug)
    expect_candidates_loaded(page, 4)
    assert candidate_ids(page) == second_ids, "the candidates should still be on the theme page"
    expect(page.get_by_test_id("theme-balance")).to_contain_text(re.compile(money("1.00")))
    chosen = page.locator(f"[data-testid=candidate][data-candidate-id='{second_ids[0]}']")
    buy_button = chosen.get_by_role("button", name=re.compile(say["buy"] + money("0.10")))
    # Nothing is sold without the buyer's own consent to immediate delivery (no withdrawal after it).
    waiver = page.get_by_test_id("waiver")
    expect(waiver).not_to_be_checked()
    buy_button.click()
    expect(page.get_by_test_id("theme-error")).to_contain_text(say["waiver_required"])
    expect(waiver).to_be_focused()
    expect(chosen).to_have_attribute("data-state", "offered")
    waiver.check()
    expect(page.get_by_test_id("theme-error")).to_be_hidden()
    with page.expect_request(lambda r: r.url.endswith("/purchase")) as purchase:
        buy_button.click()
    assert purchase.value.post_data_json == {"withdrawal_waiver": True}
    # A retry after a lost answer must not buy twice: the page sends an Idempotency-Key.
    assert len(purchase.value.headers.get("idempotency-key", "")) == 32
    bought = page.get_by_test_id("bought")
    expect(bought).to_contain_text(say["bought"])
    expect(chosen).to_have_attribute("data-state", "sold")
    expect(chosen.get_by_test_id("buy")).to_have_text(say["see_avatars"])
    expect(balance_chip).to_have_text(re.compile(say["balance"] + money("0.90")))

    # ---- "My avatars": download, copy the public URL ----
    bought.get_by_role("link", name=say["see_avatars"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(say["avatars"])
    avatar = page.get_by_test_id("avatar")
    expect(avatar).to_have_count(1)
    url_input = avatar.get_by_test_id("avatar-url")
    public_url = url_input.input_value()
    assert re.match(rf"^{re.escape(e2e_server.url)}/a/[\w-]+\.png$", public_url), public_url
    public_id = public_url.rsplit("/", 1)[1].removesuffix(".png")
    expect(url_input).to_have_attribute("readonly", "")
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=avatar] img'); return i && i.complete && i.naturalWidth > 0; }"
    )
    page.evaluate("() => navigator.clipboard.writeText('')")
    avatar.get_by_role("button", name=say["copy"], exact=True).click()
    expect(avatar.get_by_test_id("copy-feedback")).to_have_text(say["copied"])
    assert page.evaluate("() => navigator.clipboard.readText()") == public_url
    page.screenshot(path=str(screenshots / f"my-avatars-{lang}.png"))

    # The 128 px link opens a new page showing a 128×128 image.
    with context.expect_page() as popup_info:
        avatar.get_by_role("link", name=re.compile(say["open_128"])).click()
    popup = popup_info.value
    popup.wait_for_load_state()
    assert re.search(r"/a/[\w-]+\.png\?s=128$", popup.url), popup.url
    popup.wait_for_function("() => document.images.length && document.images[0].complete && document.images[0].naturalWidth > 0")
    assert popup.evaluate("() => [document.images[0].naturalWidth, document.images[0].naturalHeight]") == [128, 128]
    popup.close()

    # Download 256 px: a PNG file named after the avatar.
    with page.expect_download() as download_info:
        avatar.get_by_role("link", name=re.compile(say["download_256"])).click()
    download = download_info.value
    assert download.suggested_filename == f"effigies-{public_id}-256.png"
    with open(download.path(), "rb") as handle:
        assert png_size(handle.read()) == (256, 256)

    # The public URL itself: a PNG of each size asked.
    for size in (64, 256, 512):
        response = page.request.get(f"{public_url}?s={size}")
        assert response.ok and response.headers["content-type"].startswith("image/png"), response.status
        assert png_size(response.body()) == (size, size)

    # ---- the verify page: genuine, with the certificate's facts ----
    avatar.get_by_role("link", name=say["verify_link"]).click()
    expect(page).to_have_url(re.compile(rf"#/verify/{re.escape(public_id)}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(say["verify_title"])
    verdict = page.locator("[data-testid=verdict]").first
    expect(verdict).to_have_attribute("data-genuine", "true")
    expect(verdict).to_contain_text(say["genuine"])
    facts = page.get_by_test_id("certificate-facts").first
    expect(facts).to_contain_text(public_id)
    expect(facts).to_contain_text(say["owner"])
    expect(facts).to_contain_text("Ada E2E")
    page.wait_for_function("() => { const i = document.querySelector('.verify-result img'); return i && i.complete && i.naturalWidth === 256; }")
    page.screenshot(path=str(screenshots / f"verify-{lang}.png"))

    # Still in the chosen language after a reload, now from the account too.
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("[data-testid=verdict]").first).to_contain_text(say["genuine"])
    assert not errors, f"uncaught errors in the page: {errors}"
