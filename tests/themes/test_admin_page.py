"""The admin page in Chromium: the themes table, a refused upload's report, a good upload's draft."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.themes.archives import build_zip, good_entries, png

pytestmark = pytest.mark.browser


def _log_in_as_admin(page, stack) -> None:
    page.goto("/#/login?next=/admin")
    page.get_by_label("Adresse e-mail").fill(stack.env["EE_ADMIN_EMAIL"])
    page.get_by_label("Mot de passe").fill(stack.env["EE_ADMIN_PASSWORD"])
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", level=1, name="Administration")).to_be_visible()


def _fill(page, slug: str, archive) -> None:
    page.get_by_label("Nom (français) *").fill("Héros du navigateur")
    page.get_by_label("Nom (anglais) *").fill("Browser heroes")
    page.get_by_label("Identifiant *").fill(slug)
    page.get_by_label("Licence et crédits des images *").fill("Samples of the Pixel heroes generator (CC0 1.0).")
    page.get_by_label("Pixel art (agrandi sans lissage)").check()
    page.get_by_label("Archive zip des images *").set_input_files(archive)


def test_admin_uploads_a_bad_zip_then_a_good_one(context, stack, screenshots, tmp_path):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _log_in_as_admin(page, stack)
    table = page.locator("[data-testid=admin-themes]")
    expect(table.locator("tr[data-slug=galactic-droids]")).to_contain_text("Disponible")

    slug = f"browser-{uuid.uuid4().hex[:6]}"
    bad = tmp_path / "bad.zip"
    bad.write_bytes(build_zip([*good_entries(), ("../escape.png", png()), ("notes.png", b"just text\n" * 20)]))
    _fill(page, slug, str(bad))
    page.get_by_role("button", name="Vérifier et créer le thème").click()
    report = page.locator("[data-testid=upload-report]")
    expect(report).to_contain_text("2 fichiers de l’archive ont été refusés")
    refused = page.locator("[data-testid=report-refused]")
    expect(refused).to_contain_text("../escape.png")
    expect(refused).to_contain_text("chemin interdit")
    expect(refused).to_contain_text("notes.png")
    expect(refused).to_contain_text("ce n’est pas une image")
    expect(report).to_contain_text("Rien n’a été enregistré")
    page.screenshot(path=str(screenshots / "admin-upload-report.png"), full_page=True)
    expect(table.locator(f"tr[data-slug={slug}]")).to_have_count(0)
    assert not (stack.data_dir / "datasets" / slug).exists()

    good = tmp_path / "good.zip"
    good.write_bytes(build_zip(good_entries()))
    page.get_by_label("Archive zip des images *").set_input_files(str(good))
    page.get_by_role("button", name="Vérifier et créer le thème").click()
    expect(page.locator("[data-testid=upload-status]")).to_contain_text("créé en brouillon avec 220 images", timeout=60_000)
    row = table.locator(f"tr[data-slug={slug}]")
    expect(row).to_have_attribute("data-status", "draft")
    expect(row).to_contain_text("220")
    page.screenshot(path=str(screenshots / "admin-themes.png"), full_page=True)

    page.get_by_role("button", name="EN", exact=True).click()
    expect(page.get_by_role("columnheader", name="Training images")).to_be_visible()
    assert not errors, errors
