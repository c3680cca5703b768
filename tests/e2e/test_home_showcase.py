"""The home page's first screen, in Chromium on the real stack (frontend/js/views/home.js): a large,
fresh avatar of every published theme, each one a link to its theme, the first four (the admin's
order: all four shipped themes) whole inside the first viewport on a desktop and on a 360 px
phone; "Show others" draws other ones from the set."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import ApiClient
from tests.generation.test_proposals_page import images_loaded, ready, watch
from tests.generation.test_showcase import by_slug, wait_showcase

pytestmark = pytest.mark.browser

# (viewport, smallest width an avatar may be drawn at: "large" on that screen)
FIRST_SCREEN = 4  # themes whose avatar the first screen shows whole (other tests may publish more)
SCREENS = {"desktop": ({"width": 1280, "height": 800}, 200), "phone": ({"width": 360, "height": 740}, 140)}


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("locale", ["fr", "en"])
def test_the_first_screen_shows_a_large_fresh_avatar_of_every_theme(screen, locale, new_context, e2e_server, screenshots):
    with ApiClient(base_url=e2e_server.url, timeout=30) as api:
        shown = by_slug(wait_showcase(api, until=lambda b: all(by_slug(b).values())))
        order = [t["slug"] for t in api.get("/api/themes").json()]
    viewport, min_px = SCREENS[screen]
    context = new_context(viewport=viewport, locale={"fr": "fr-FR", "en": "en-GB"}[locale],
                          **({"is_mobile": True, "has_touch": True} if screen == "phone" else {}))
    page = context.new_page()
    problems = watch(page)
    page.goto("/")
    ready(page)
    tiles = page.get_by_test_id("showcase-tile")
    expect(tiles).to_have_count(len(order))
    assert tiles.evaluate_all("els => els.map(e => e.dataset.slug)") == order
    images_loaded(page, "[data-testid=showcase-image]")

    for i, slug in enumerate(order):
        tile = tiles.nth(i)
        image = tile.get_by_test_id("showcase-image")
        assert image.get_attribute("src") in shown[slug]  # one of the fresh set, not the sample grid
        assert image.evaluate("i => i.naturalWidth") == 256
        box = image.bounding_box()
        assert box["width"] >= min_px, (slug, box)
        whole = box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] and box["y"] + box["height"] <= viewport["height"]
        assert whole or i >= FIRST_SCREEN, f"{slug}'s avatar is not whole on the first screen: {box}"
        assert tile.get_by_role("link").get_attribute("href") == f"#/themes/{slug}"
        assert image.get_attribute("alt").startswith({"fr": "Un avatar inventé", "en": "An avatar invented"}[locale])
    page.screenshot(path=str(screenshots / f"home-first-screen-{screen}-{locale}.png"))

    before = page.locator("[data-testid=showcase-image]").evaluate_all("els => els.map(i => i.getAttribute('src'))")
    page.get_by_test_id("showcase-shuffle").click()
    after = page.locator("[data-testid=showcase-image]").evaluate_all("els => els.map(i => i.getAttribute('src'))")
    assert all(a != b and a in shown[slug] for a, b, slug in zip(after, before, order)), (before, after)

    tiles.first.get_by_role("link").click()
    expect(page).to_have_url(f"{e2e_server.url}/#/themes/{order[0]}")
    assert problems == []
