"""Seeing an avatar before and after buying, in Chromium on the real stack, in French then English:

- theme page: a candidate opens enlarged (click-to-zoom), then "as a profile picture": a circle and
  a square at 40, 128 and 256 px, on a light and on a dark background; Escape closes it.
- My avatars: PNG and WebP downloads at the platforms' sizes, and a custom size checked in the page
  (15, 1025 and "abc" are refused there, 300 is a 300 px file).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.avatars.helpers import candidates
from tests.avatars.test_public_sizes import dimensions

pytestmark = pytest.mark.browser

GENERATION_TIMEOUT_MS = 180_000
TEXT = {
    "fr": {"generate": "Générer", "profile": "Voir en photo de profil", "zoom": "Agrandir : Proposition 1 sur 4",
           "enlarged": "Agrandi", "as_profile": "En photo de profil", "close": "Fermer",
           "light": "Sur fond clair", "dark": "Sur fond sombre", "circle": "Rond", "square": "Carré",
           "download": "Télécharger", "platforms": ["Discord", "Steam", "Google", "Standard (l’adresse publique)",
                                                   "X (Twitter)", "GitHub", "Slack", "Original (le plus grand)"],
           "custom": "Autre taille, de 16 à 1024 px", "invalid": "Entrez un nombre entier de 16 à 1024.",
           "discord_webp": "Télécharger l’avatar {id} pour Discord, 128 × 128 pixels (fichier WebP)"},
    "en": {"generate": "Generate", "profile": "See it as a profile picture", "zoom": "Enlarge: Proposal 1 of 4",
           "enlarged": "Enlarged", "as_profile": "As a profile picture", "close": "Close",
           "light": "On a light background", "dark": "On a dark background", "circle": "Circle", "square": "Square",
           "download": "Download", "platforms": ["Discord", "Steam", "Google", "Standard (the public address)",
                                                "X (Twitter)", "GitHub", "Slack", "Original (largest)"],
           "custom": "Another size, from 16 to 1024 px", "invalid": "Enter a whole number from 16 to 1024.",
           "discord_webp": "Download avatar {id} for Discord, 128 × 128 pixels (WebP file)"},
}
SIZES = [128, 184, 250, 256, 400, 460, 512, 1024]


def logged_in(context, user) -> tuple[Page, list[str]]:
    """A page with the user's session, and the list its uncaught errors go to."""
    context.add_cookies([{"name": "ee_session", "value": user.cookies.get("ee_session"), "url": str(user.base_url)}])
    page, errors = context.new_page(), []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def choose_language(page: Page, lang: str) -> None:
    page.wait_for_function("() => document.body.dataset.ready === 'true'")
    page.locator("#lang-switch").get_by_role("button", name=lang.upper(), exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def images_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        "(s) => { const all = [...document.querySelectorAll(s)]; return all.length && all.every(i => i.complete && i.naturalWidth > 0); }",
        arg=selector,
    )


def check_profile_view(page: Page, say: dict) -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name=say["as_profile"])).to_have_attribute("aria-pressed", "true")
    scenes = dialog.get_by_test_id("profile-scene")
    expect(scenes).to_have_count(2)
    expect(scenes.nth(0)).to_contain_text(say["light"])
    expect(scenes.nth(1)).to_contain_text(say["dark"])
    images_loaded(page, "[data-testid=profile-pic]")
    shown = dialog.get_by_test_id("profile-pic").evaluate_all("""els => els.map(i => {
        const box = i.getBoundingClientRect(), style = getComputedStyle(i);
        const scene = i.closest('[data-testid=profile-scene]');
        return {scene: scene.dataset.scene, shape: i.dataset.shape, size: Number(i.dataset.size),
                width: Math.round(box.width), height: Math.round(box.height), radius: style.borderTopLeftRadius,
                background: getComputedStyle(scene).backgroundColor, natural: i.naturalWidth, visible: box.width > 0};
    })""")
    assert sorted((s["scene"], s["shape"], s["size"]) for s in shown) == sorted(
        (scene, shape, size) for scene in ("light", "dark") for shape in ("circle", "square") for size in (40, 128, 256))
    for s in shown:
        assert s["width"] == s["height"] == s["size"], s  # drawn at exactly the size named
        assert s["natural"] == 256, s  # the 256 px preview, scaled by the browser as a platform would
        assert (s["radius"] == "50%") == (s["shape"] == "circle"), s
    luminance = {s["scene"]: sum(map(int, re.findall(r"\d+", s["background"])[:3])) for s in shown}
    assert luminance["light"] > 600 and luminance["dark"] < 150, luminance
    for row, label in (("circle", say["circle"]), ("square", say["square"])):
        expect(dialog.locator(f".profile-row[data-shape={row}]").first).to_contain_text(label)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_candidate_zooms_and_shows_as_a_profile_picture_before_buying(lang, context, make_user, screenshots):
    say = TEXT[lang]
    user, _ = make_user()
    page, errors = logged_in(context, user)
    page.goto("/#/themes/galactic-droids")
    choose_language(page, lang)
    page.get_by_role("button", name=say["generate"], exact=True).click()
    expect(page.get_by_test_id("candidate")).to_have_count(4, timeout=GENERATION_TIMEOUT_MS)
    images_loaded(page, "[data-testid=candidate] img")

    # Click-to-zoom: the 256 px preview drawn larger than on the card.
    zoom = page.get_by_role("button", name=say["zoom"], exact=True)
    zoom.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name=say["enlarged"])).to_have_attribute("aria-pressed", "true")
    images_loaded(page, "[data-testid=zoom-image]")
    width = dialog.get_by_test_id("zoom-image").evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
    assert width[0] == 256 and width[1] >= 400, width
    # The same dialog switches to the profile view.
    dialog.get_by_role("button", name=say["as_profile"]).click()
    check_profile_view(page, say)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(zoom).to_be_focused()  # back where the person was

    # Opened straight from the card's own link, as a person choosing would.
    page.get_by_test_id("candidate").nth(1).get_by_role("button", name=say["profile"]).click()
    check_profile_view(page, say)
    page.screenshot(path=str(screenshots / f"profile-preview-{lang}.png"))
    page.get_by_role("dialog").get_by_role("button", name=say["close"]).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert errors == []


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_my_avatars_downloads_every_platform_size_in_png_and_webp_and_checks_a_custom_size(lang, context, make_user):
    say = TEXT[lang]
    user, _ = make_user(balance_cents=100)
    public_id = user.post(f"/api/candidates/{candidates(user, 1)[0]['id']}/purchase", json={"withdrawal_waiver": True}).json()["avatar"]["public_id"]
    page, errors = logged_in(context, user)
    page.goto("/#/avatars")
    choose_language(page, lang)
    table = page.get_by_role("table", name=say["download"])
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows.locator("th")).to_have_text(say["platforms"])
    expect(rows.locator("td:nth-child(2)")).to_have_text([f"{size} px" for size in SIZES])

    # Every link is the file it names: format (signature), size and file name.
    links = table.get_by_test_id("download").evaluate_all(
        "els => els.map(a => [a.href, a.getAttribute('download'), a.dataset.format, Number(a.dataset.size)])")
    assert len(links) == 2 * len(SIZES)
    assert {(ext, size) for _, _, ext, size in links} == {(ext, size) for ext in ("png", "webp") for size in SIZES}
    for href, filename, ext, size in links:
        assert filename == f"effigies-{public_id}-{size}.{ext}"
        response = page.request.get(href)
        assert response.ok and response.headers["content-disposition"] == f'attachment; filename="{filename}"'
        assert dimensions(response.body(), ext) == (size, size), href
    with page.expect_download() as download_info:
        table.get_by_role("link", name=say["discord_webp"].format(id=public_id)).click()
    assert download_info.value.suggested_filename == f"effigies-{public_id}-128.webp"

    # A custom size: refused in the page outside 16-1024, downloaded inside.
    field = page.get_by_label(say["custom"])
    error = page.get_by_test_id("custom-size-error")
    requests: list[str] = []
    page.on("request", lambda r: "/a/" in r.url and requests.append(r.url))
    for bad in ("15", "1025", "abc", "12.5", ""):
        field.fill(bad) if bad != "abc" else field.press_sequentially(bad)  # a number field drops typed letters
        page.get_by_test_id("custom-download").click()
        expect(error).to_have_text(say["invalid"])
        expect(field).to_have_attribute("aria-invalid", "true")
        field.fill("")
    assert requests == []  # nothing asked of the server for a size it would refuse
    page.get_by_test_id("custom-format").select_option("webp")
    field.fill("300")
    with page.expect_download() as download_info:
        page.get_by_test_id("custom-download").click()
    download = download_info.value
    assert download.suggested_filename == f"effigies-{public_id}-300.webp"
    with open(download.path(), "rb") as handle:
        assert dimensions(handle.read(), "webp") == (300, 300)
    expect(error).to_be_hidden()
    expect(field).not_to_have_attribute("aria-invalid", "true")
    assert errors == []
