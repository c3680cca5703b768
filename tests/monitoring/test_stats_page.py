"""The admin stats page and the capacity column in Chromium, logged in as the suite's admin."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _admin_page(context, make_user):
    """A page logged in as an admin of its own: switching its language changes no one else's."""
    admin, _ = make_user(role="admin")
    context.add_cookies([{"name": "ee_session", "value": admin.cookies.get("ee_session"), "url": str(admin.base_url)}])
    page = context.new_page()
    page.goto("/#/admin")
    expect(page.get_by_role("heading", level=1, name="Administration")).to_be_visible()
    return page


def test_admin_sees_the_stats_cards_and_charts_in_french_then_english(context, make_user, screenshots):
    page = _admin_page(context, make_user)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.get_by_role("link", name="Statistiques").click()
    expect(page.get_by_role("heading", level=1, name="Statistiques")).to_be_visible()
    now = page.locator("[data-testid=stats-now]")
    expect(now.locator("[data-testid=stat-queue-generate] .stat-value")).to_have_text(re.compile(r"^\d+$"))
    # Both of the suite's workers announce themselves within seconds.
    expect(now.locator("[data-testid=stat-workers] .stat-value")).to_have_text("2", timeout=60_000)
    expect(now.locator("[data-testid=stat-registry-training] .stat-value")).not_to_have_text("0")
    chart = page.locator("[data-testid=chart-jobs]")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(30)
    expect(chart).to_have_attribute("aria-label", re.compile(r"^Générations par jour du .+ au .+ : \d+ au total\."))

    # The text alternative: every day in a table, behind a disclosure a keyboard opens.
    page.get_by_text("Afficher les chiffres de chaque jour").focus()
    page.keyboard.press("Enter")
    table = page.locator("[data-testid=stats-table]")
    expect(table.locator("tbody tr")).to_have_count(30)

    page.get_by_label("Période").select_option("7")
    expect(chart.locator("rect.bar")).to_have_count(7)
    expect(table.locator("tbody tr")).to_have_count(7)
    page.screenshot(path=str(screenshots / "admin-stats.png"), full_page=True)

    page.get_by_role("button", name="EN", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Statistics")).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(7)  # the period chosen survives the switch
    expect(page.locator("[data-testid=stat-workers] .stat-label")).to_have_text("Live workers")
    expect(page.locator("[data-testid=chart-sales]")).to_have_attribute(
        "aria-label", re.compile(r"^Avatars sold per day from .+ to .+: \d+ in all\."))

    # A 360 px phone: cards and charts reflow, nothing pushes the page sideways.
    page.set_viewport_size({"width": 360, "height": 800})
    expect(page.locator("[data-testid=stat-workers]")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(screenshots / "admin-stats-360.png"), full_page=True)

    # It refreshes by itself: the "updated at" line changes within ~15 s.
    updated = page.locator("[data-testid=stats-updated]")
    first = updated.inner_text()
    expect(updated).not_to_have_text(first, timeout=40_000)
    assert not errors, errors


def _shipped_capacity(slug: str) -> int:
    """What the shipped generator's metrics.json says (bench_capacity writes it), formatted by the page."""
    import json

    from effigies.themes.service import PRETRAINED_DIR

    return json.loads((PRETRAINED_DIR / slug / "metrics.json").read_text())["capacity"]


def test_the_themes_table_shows_capacity_or_not_measured(context, make_user):
    from effigies.db import session_scope
    from effigies.themes.models import Theme

    slug = f"unmeasured-{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        session.add(Theme(slug=slug, name="Unmeasured", name_fr="Non mesuré", status="draft"))
    page = _admin_page(context, make_user)
    table = page.locator("[data-testid=admin-themes]")
    droids = _shipped_capacity("galactic-droids")
    expect(table.locator("tr[data-slug=galactic-droids] [data-testid=capacity]")).to_have_text(
        re.compile("^≈ " + r"\s".join(f"{droids:,}".split(",")) + "$"))
    expect(table.locator("tr[data-slug=arcane-sigils] [data-testid=capacity]")).to_have_text(re.compile(r"^≥ 184\s711\s574$"))
    expect(table.locator(f"tr[data-slug={slug}] [data-testid=capacity]")).to_have_text("non mesurée")
    page.get_by_role("button", name="EN", exact=True).click()
    expect(table.locator(f"tr[data-slug={slug}] [data-testid=capacity]")).to_have_text("not measured")
    expect(table.locator("tr[data-slug=galactic-droids] [data-testid=capacity]")).to_have_text(f"≈ {droids:,}")
