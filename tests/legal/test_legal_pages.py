"""The legal pages (effigies.legal): every page in both languages with its placeholders filled,
the operator's settings in them, EE_LEGAL_DIR overriding file by file, the API's refusals, and
the footer links in a browser, on a phone."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from effigies.config import Settings, get_settings
from effigies.legal import service

OPERATOR = {
    "EE_OPERATOR_NAME": "Avatars & Cie SAS",
    "EE_OPERATOR_ADDRESS": "12 rue du Pixel, 69001 Lyon, France",
    "EE_OPERATOR_EMAIL": "bonjour@avatars-cie.example",
    "EE_OPERATOR_PHONE": "+33 4 72 00 00 01",
    "EE_OPERATOR_REGISTRATION": "RCS Lyon 912 345 678",
    "EE_OPERATOR_VAT": "FR12 912345678",
    "EE_PUBLICATION_DIRECTOR": "Camille Martin",
    "EE_HOST_NAME": "Hébergeur Exemple SAS",
    "EE_HOST_ADDRESS": "2 avenue du Cloud, 59100 Roubaix, France",
    "EE_MEDIATOR": "Médiateur Exemple, 1 place de la Paix, 75001 Paris, https://mediateur.example",
    "EE_PUBLIC_URL": "https://avatars-cie.example",
}


@pytest.fixture
def app(monkeypatch):
    """The API in this process, with the operator's settings above (and no EE_LEGAL_DIR)."""
    from starlette.testclient import TestClient

    from effigies.api.app import create_app

    for key, value in OPERATOR.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("EE_LEGAL_DIR", raising=False)
    get_settings.cache_clear()
    try:
        yield TestClient(create_app(), base_url="http://127.0.0.1")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def _text(page: dict) -> str:
    """Everything a reader sees, addresses of links included."""
    parts = [page["title"], page["updated"]]
    for block in page["blocks"]:
        for spans in block.get("items") or [block.get("spans") or []]:
            parts += [s["text"] for s in spans] + [s["href"] for s in spans if s["href"]]
    return "\n".join(parts)


def test_every_page_exists_in_both_languages_with_every_placeholder_filled(app):
    listing = {locale: app.get("/api/legal", params={"locale": locale}).json() for locale in ("fr", "en")}
    assert [p["page"] for p in listing["fr"]["pages"]] == ["terms", "withdrawal", "privacy", "legal-notice", "contact"]
    for page in service.PAGES:
        texts = {}
        for locale in ("fr", "en"):
            answer = app.get(f"/api/legal/{page}", params={"locale": locale})
            assert answer.status_code == 200, (page, locale, answer.text)
            body = answer.json()
            assert body["page"] == page and body["locale"] == locale and body["blocks"]
            raw = json.dumps(body, ensure_ascii=False)
            assert "$" not in raw, f"{page}.{locale}: a placeholder was left unfilled"
            assert "<!--" not in raw and "lawyer" not in raw and "avocat" not in raw, f"{page}.{locale}: the note shows"
            assert "démo locale" not in raw, f"{page}.{locale}: a default shows despite the settings"
            titles = {p["page"]: p["title"] for p in listing[locale]["pages"]}
            assert body["title"] == titles[page]
            texts[locale] = _text(body)
            # Links lead to the web, an e-mail address or a page of the site, nowhere else.
            for block in body["blocks"]:
                for spans in block.get("items") or [block.get("spans") or []]:
                    for span in spans:
                        assert span["href"] is None or span["href"].startswith(("https://", "mailto:", "#/")), span
        assert texts["fr"] != texts["en"]
        assert OPERATOR["EE_OPERATOR_EMAIL"] in texts["fr"] and OPERATOR["EE_OPERATOR_EMAIL"] in texts["en"], page


def test_the_legal_notice_names_the_operator_the_director_and_the_host(app):
    for locale in ("fr", "en"):
        text = _text(app.get("/api/legal/legal-notice", params={"locale": locale}).json())
        for key, value in OPERATOR.items():
            if key != "EE_PUBLIC_URL":
                assert value in text, (locale, key)
        assert "https://avatars-cie.example" in text


def test_the_terms_say_what_is_sold_and_how_withdrawal_works(app):
    fr = _text(app.get("/api/legal/terms", params={"locale": "fr"}).json())
    en = _text(app.get("/api/legal/terms", params={"locale": "en"}).json())
    assert "0,10\u00a0€" in fr and "€0.10" in en  # EE_PRICE_CENTS, in each language's style
    assert "1\u00a0€, 2\u00a0€ et 5\u00a0€" in fr and "€1, €2 and €5" in en  # EE_TOPUP_PACKS_CENTS
    for text in (fr, en):
        assert "L221-28" in text and "2011/83" in text and "14" in text
        assert "#/legal/withdrawal" in text and "#/legal/privacy" in text
        assert OPERATOR["EE_MEDIATOR"] in text
    privacy = _text(app.get("/api/legal/privacy", params={"locale": "fr"}).json())
    assert "CNIL" in privacy and "Stripe" in privacy and OPERATOR["EE_HOST_NAME"] in privacy


def test_the_publication_director_defaults_to_the_operator():
    settings = Settings(EE_OPERATOR_NAME="Solo Avatars EI")
    page = service.render("legal-notice", "fr", settings)
    assert page.title == "Mentions légales"
    at = next(i for i, b in enumerate(page.blocks) if b.type == "heading" and b.spans[0].text == "Directeur de la publication")
    assert page.blocks[at + 1].spans[0].text == "Solo Avatars EI"


def test_ee_legal_dir_replaces_one_file_and_only_that_one(tmp_path):
    (tmp_path / "terms.en.md").write_text(
        "<!-- have it reviewed by a lawyer\nupdated: 2027-01-15\n-->\n# Our own terms\n\n"
        "Sold by **$operator_name** for $price, see [**the privacy policy**](#/legal/privacy).\n\n"
        "- one *literal* star, a [bad link](javascript:alert) and $$5\n  continued here\n",
        encoding="utf-8")
    settings = Settings(EE_LEGAL_DIR=str(tmp_path), EE_OPERATOR_NAME="Our **Shop**")
    page = service.render("terms", "en", settings)
    assert page.title == "Our own terms" and page.updated == "15 January 2027"
    paragraph, items = page.blocks
    assert [(s.text, s.strong, s.href) for s in paragraph.spans] == [
        ("Sold by ", False, None), ("Our **Shop**", True, None), (" for €0.10, see ", False, None),
        ("the privacy policy", True, "#/legal/privacy"), (".", False, None)]
    assert [s.text for s in items.items[0]] == ["one *literal* star, a ", "bad link", " and $5 continued here"]
    assert items.items[0][1].href is None  # only the web, mailto: and the site's own pages
    # The French terms and every other page are still the shipped ones.
    assert service.render("terms", "fr", settings).title == "Conditions générales de vente"
    assert service.render("privacy", "en", settings).title == "Privacy policy"
    assert service.render("terms", "en", Settings()).title == "Terms of sale"


def test_unknown_pages_are_a_json_404_and_other_locales_a_422(app):
    for path in ("/api/legal/cookies", "/api/legal/..%2Fconfig", "/api/legal/terms.fr"):
        answer = app.get(path)
        assert answer.status_code == 404, path
        error = answer.json()["error"]
        assert error["code"] and error["message"], path
    assert app.get("/api/legal/cookies").json()["error"]["code"] == "page_not_found"
    for locale in ("de", "FR", ""):
        answer = app.get("/api/legal/terms", params={"locale": locale})
        assert answer.status_code == 422, locale
        assert answer.json()["error"]["code"] == "invalid_request"
    assert app.get("/api/legal", params={"locale": "es"}).status_code == 422
    assert app.get("/api/legal/terms").json()["locale"] == "fr"  # French unless asked otherwise


def test_a_typed_address_opens_the_page(app):
    answer = app.get("/legal/terms", follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"] == "/#/legal/terms"


@pytest.mark.browser
def test_the_footer_leads_to_the_terms_and_the_privacy_page_fits_a_phone(context):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")

    page.locator("#footer").get_by_role("link", name="Conditions générales de vente").click()
    expect(page).to_have_url(re.compile(r"#/legal/terms$"))
    legal = page.get_by_test_id("legal-page")
    expect(legal.get_by_role("heading", level=1)).to_have_text("Conditions générales de vente")
    expect(legal).to_have_attribute("data-locale", "fr")
    expect(legal.get_by_role("link", name="Droit de rétractation")).to_have_attribute("href", "#/legal/withdrawal")
    expect(page.get_by_test_id("legal-link-terms")).to_have_attribute("aria-current", "page")
    assert "Conditions générales de vente" in page.title()

    page.locator("#lang-switch button[data-locale=en]").click()
    expect(legal.get_by_role("heading", level=1)).to_have_text("Terms of sale")
    expect(page.get_by_test_id("legal-page")).to_have_attribute("data-locale", "en")
    expect(page.get_by_test_id("legal-page").get_by_role("heading", name="10. Right of withdrawal")).to_be_visible()

    page.set_viewport_size({"width": 360, "height": 780})
    page.locator("#footer").get_by_role("link", name="Privacy").click()
    privacy = page.get_by_test_id("legal-page")
    expect(privacy.get_by_role("heading", level=1)).to_have_text("Privacy policy")
    expect(privacy.get_by_role("link", name="www.cnil.fr")).to_be_visible()
    width, scroll = page.evaluate("() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]")
    assert scroll <= width, f"the privacy page scrolls sideways at 360 px ({scroll} px in {width} px)"
    box = privacy.get_by_role("heading", level=1).bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 361
    assert not errors, errors
