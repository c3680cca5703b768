"""Every page a person uses, on a 360 px phone and on a desktop, in Chromium:

no horizontal scroll, the page's main controls on screen, each reached with the Tab key, and no
control without an accessible name (Chromium's own accessibility tree says so). On the phone the
theme page is used with the keyboard alone: Tab to "Générer", Enter, candidates appear.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.avatars.helpers import candidates

pytestmark = pytest.mark.browser

WIDTHS = {"mobile": (360, 780), "desktop": (1280, 900)}
GENERATION_TIMEOUT_MS = 180_000
# Roles a person acts on: each needs a name a screen reader can say.
INTERACTIVE = {"button", "link", "textbox", "checkbox", "radio", "combobox", "listbox", "slider", "spinbutton",
               "searchbox", "switch", "menuitem", "tab"}


@dataclass
class Screen:
    name: str
    path: str
    ready: Callable[[Page], None]     # waits until the page has drawn its content
    controls: Callable[[Page], list[Locator]]  # must be visible and inside the viewport's width
    key: Callable[[Page], Locator]    # reached with Tab


def image_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        "(s) => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0; }", arg=selector
    )


def all_cards_loaded(page: Page) -> None:
    """The cards' images load lazily: scrolled past one by one, as a person would."""
    images = page.locator("[data-testid=theme-card] img")
    expect(images.first).to_be_visible()
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=theme-card] img')].every(i => i.complete && i.naturalWidth > 0)")
    page.evaluate("() => window.scrollTo(0, 0)")


def screens(public_id: str) -> list[Screen]:
    return [
        Screen("home", "/",
               all_cards_loaded,
               lambda p: [p.locator("#lang-switch"), p.get_by_role("navigation").get_by_role("link", name="Mes avatars"),
                          p.locator("[data-testid=theme-card][data-slug=galactic-droids]")],
               lambda p: p.locator("[data-testid=theme-card][data-slug=galactic-droids] a")),
        Screen("theme", "/#/themes/galactic-droids",
               lambda p: image_loaded(p, ".theme-header img"),
               lambda p: [p.get_by_test_id("generate"), p.get_by_test_id("theme-balance"), p.get_by_test_id("make-board")],
               lambda p: p.get_by_test_id("generate")),
        Screen("wallet", "/#/wallet",
               lambda p: expect(p.get_by_test_id("pay")).to_be_enabled(),  # the card form is mounted
               lambda p: [p.get_by_test_id("wallet-balance"), p.get_by_test_id("pack-100"),
                          p.locator("#card-element input[placeholder=number]"), p.get_by_test_id("pay")],
               lambda p: p.get_by_test_id("pay")),
        Screen("my-avatars", "/#/avatars",
               lambda p: image_loaded(p, "[data-testid=avatar] img"),
               lambda p: [p.get_by_test_id("avatar-url"), p.get_by_test_id("copy-url"),
                          p.get_by_test_id("download").last, p.get_by_test_id("verify-link")],
               lambda p: p.get_by_test_id("copy-url")),
        Screen("how-it-learns", "/#/themes/pixel-heroes/learn",
               lambda p: image_loaded(p, "[data-testid=learn-frame]"),
               lambda p: [p.get_by_test_id("learn-frame"), p.get_by_test_id("learn-scrubber"),
                          p.get_by_role("button", name="Lecture")],
               lambda p: p.get_by_test_id("learn-scrubber")),
        Screen("verify", f"/#/verify/{public_id}",
               lambda p: image_loaded(p, ".verify-result img"),
               lambda p: [p.get_by_test_id("verdict"), p.get_by_test_id("certificate-facts"),
                          p.get_by_test_id("certificate-file"), p.get_by_role("button", name="Vérifier", exact=True)],
               lambda p: p.get_by_role("button", name="Vérifier", exact=True)),
    ]


def assert_no_horizontal_scroll(page: Page, where: str) -> None:
    width, scroll, wide = page.evaluate(
        """() => {
            const w = document.documentElement.clientWidth;
            // What sticks out, for the message: elements wider than the page outside a scroller.
            const wide = [...document.querySelectorAll('body *')].filter((el) => {
                const r = el.getBoundingClientRect();
                return r.width && r.right > w + 1 && !el.closest('.table-scroll');
            }).slice(0, 5).map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' ' + Math.round(el.getBoundingClientRect().right));
            return [window.innerWidth, document.documentElement.scrollWidth, wide];
        }"""
    )
    assert scroll <= width, f"{where}: horizontal scroll ({scroll} px in {width} px): {wide}"
    # A table may scroll inside its box, but none of these pages' tables should have to: the
    # wallet's amounts are its point, and a phone user would not think of swiping the table.
    tables = page.locator(".table-scroll").evaluate_all("els => els.map(e => [e.scrollWidth, e.clientWidth])")
    assert all(inner <= outer + 1 for inner, outer in tables), f"{where}: a table scrolls sideways: {tables}"


def assert_inside(page: Page, control: Locator, where: str) -> None:
    expect(control).to_be_visible()
    control.scroll_into_view_if_needed()
    box = control.bounding_box()
    width = page.viewport_size["width"]
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, f"{where}: {control} off screen: {box}"


def unnamed_controls(page: Page) -> list[str]:
    """Interactive nodes of Chromium's accessibility tree whose computed name is empty."""
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    bad = []
    for node in nodes:
        role = (node.get("role") or {}).get("value")
        if node.get("ignored") or role not in INTERACTIVE:
            continue
        if not str((node.get("name") or {}).get("value") or "").strip():
            bad.append(f"{role} (backend node {node.get('backendDOMNodeId')})")
    return bad


def tab_to(page: Page, target: Locator, where: str, limit: int = 80) -> int:
    """Presses Tab from the top of the page until `target` has the focus; returns the count."""
    handle = target.element_handle()
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", handle):
            return presses
    focused = page.evaluate("() => document.activeElement && document.activeElement.outerHTML.slice(0, 120)")
    raise AssertionError(f"{where}: {limit} presses of Tab never reached {target} (last focus: {focused})")


@pytest.mark.parametrize("size", list(WIDTHS))
def test_every_page_fits_the_screen_and_works_with_the_keyboard(size, context, make_user, stack, screenshots):
    user, _ = make_user(balance_cents=100)
    bought = candidates(user, 1)[0]
    public_id = user.post(f"/api/candidates/{bought['id']}/purchase", json={"withdrawal_waiver": True}).json()["avatar"]["public_id"]
    context.add_cookies([{"name": "ee_session", "value": user.cookies.get("ee_session"), "url": stack.url}])
    width, height = WIDTHS[size]
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    for screen in screens(public_id):
        where = f"{screen.name} at {width} px"
        page.goto(screen.path)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        screen.ready(page)
        assert_no_horizontal_scroll(page, where)
        for control in screen.controls(page):
            assert_inside(page, control, where)
        # The header's controls too: language, navigation, balance.
        for control in (page.locator("#lang-switch button").first, page.locator("#balance-chip"),
                        page.get_by_role("navigation").get_by_role("link").last):
            assert_inside(page, control, where)
        assert unnamed_controls(page) == [], f"{where}: controls without an accessible name"
        key = screen.key(page)
        tab_to(page, key, where)
        assert_inside(page, key, where + " (focused)")

        if screen.name == "theme" and size == "mobile":
            # The keyboard alone: Enter on the focused button generates; the candidates fit two by row.
            page.keyboard.press("Enter")
            expect(page.get_by_test_id("generation-status")).to_have_text("4 propositions prêtes.", timeout=GENERATION_TIMEOUT_MS)
            cards = page.get_by_test_id("candidate")
            expect(cards).to_have_count(4)
            image_loaded(page, "[data-testid=candidate]:last-child img")
            assert_no_horizontal_scroll(page, where + " with candidates")
            for i in range(4):
                assert_inside(page, cards.nth(i).get_by_role("button", name=re.compile(r"^Acheter pour")), where)
            tops = cards.evaluate_all("els => els.map(e => Math.round(e.getBoundingClientRect().top))")
            assert tops[0] == tops[1] and tops[2] == tops[3] and tops[2] > tops[0], f"not two by row: {tops}"
            assert unnamed_controls(page) == [], f"{where}: controls without an accessible name"
            page.evaluate("() => document.querySelector('.generate-bar').scrollIntoView()")

        if screen.name == "how-it-learns":
            # The scrubber answers the keyboard: End shows the last step of training.
            page.keyboard.press("End")
            expect(page.get_by_test_id("learn-caption")).to_have_text(re.compile(r"\((\d+)/\1\)$"))
            image_loaded(page, "[data-testid=learn-frame]")
            page.evaluate("() => window.scrollTo(0, 0)")

        # What a phone shows (the theme page at its candidates); the desktop's "how it learns" for README.
        if size == "mobile":
            page.screenshot(path=str(screenshots / f"mobile-{screen.name}.png"))
        elif screen.name == "how-it-learns":
            page.screenshot(path=str(screenshots / "how-it-learns.png"))

    assert not errors, f"uncaught errors in the page: {errors}"
