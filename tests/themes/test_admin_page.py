"""The admin page in Chromium: the themes table, a refused upload's report, a good upload's draft,
a draft from a built dataset, and a pixel-art theme on a declared grid."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.themes.archives import build_zip, generated_pngs, good_entries, grid_entries, png

pytestmark = pytest.mark.browser


def _log_in_as_admin(page, stack) -> None:
    page.goto("/#/login?next=/admin")
    page.get_by_label("Adresse e-mail").fill(stack.env["EE_ADMIN_EMAIL"])
    page.get_by_label("Mot de passe").fill(stack.env["EE_ADMIN_PASSWORD"])
    page.get_by_role("button", name="Se connecter").click()
    # The account keeps the language a previous test may have switched to.
    expect(page.get_by_role("heading", level=1, name="Admin")).to_be_visible()
    page.get_by_role("button", name="FR", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Administration")).to_be_visible()


def _fill_fields(page, slug: str) -> None:
    page.get_by_label("Nom (français) *").fill("Héros du navigateur")
    page.get_by_label("Nom (anglais) *").fill("Browser heroes")
    page.get_by_label("Identifiant *").fill(slug)
    page.get_by_label("Licence et crédits des images *").fill("Samples of the Pixel heroes generator (CC0 1.0).")
    page.get_by_label("Pixel art (agrandi sans lissage)").check()


def _fill(page, slug: str, archive) -> None:
    _fill_fields(page, slug)
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


def test_admin_creates_a_theme_from_a_built_dataset(context, stack, screenshots):
    name, slug = f"built-{uuid.uuid4().hex[:6]}", f"browser-{uuid.uuid4().hex[:6]}"
    folder = Path(stack.env["EE_BUILT_DATASETS_DIR"]) / name
    folder.mkdir(parents=True)
    for i, data in enumerate(generated_pngs()):
        (folder / f"hero-{i:03d}.png").write_bytes(data)
    (folder / "LICENSE.txt").write_text("CC0 1.0\n")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _log_in_as_admin(page, stack)

    _fill_fields(page, slug)
    expect(page.get_by_label("Archive zip des images *")).to_be_visible()
    page.get_by_label("Utiliser un jeu de données construit").check()
    expect(page.get_by_label("Archive zip des images *")).to_be_hidden()
    choice = page.get_by_label("Jeu de données construit *")
    expect(choice.locator(f"option[value={name}]")).to_have_text(f"{name} — 220 images")
    choice.select_option(name)
    page.get_by_role("button", name="Vérifier et créer le thème").click()
    expect(page.locator("[data-testid=upload-status]")).to_contain_text("créé en brouillon avec 220 images", timeout=60_000)
    expect(page.locator("[data-testid=report-skipped]")).to_contain_text("LICENSE.txt")
    row = page.locator("[data-testid=admin-themes]").locator(f"tr[data-slug={slug}]")
    expect(row).to_have_attribute("data-status", "draft")
    expect(row).to_contain_text("220")
    # The list is read again: the set now says which theme it made.
    page.get_by_label("Utiliser un jeu de données construit").check()
    expect(choice.locator(f"option[value={name}]")).to_contain_text(f"déjà utilisé par {slug}")
    page.screenshot(path=str(screenshots / "admin-built-dataset.png"), full_page=True)
    assert (stack.data_dir / "datasets" / slug / "origin.json").is_file()
    assert not errors, errors


def test_admin_declares_a_pixel_grid_and_sees_images_off_it_named(context, stack, tmp_path):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _log_in_as_admin(page, stack)
    slug = f"browser-{uuid.uuid4().hex[:6]}"
    grid = page.get_by_label("Grille de pixels")
    expect(grid).to_be_hidden()  # only pixel art has a grid
    _fill_fields(page, slug)
    expect(grid).to_be_visible()
    grid.select_option("16")

    off = tmp_path / "off.zip"
    off.write_bytes(build_zip([*grid_entries(), ("smooth.png", generated_pngs(slug="galactic-droids")[0])]))
    page.get_by_label("Archive zip des images *").set_input_files(str(off))
    page.get_by_role("button", name="Vérifier et créer le thème").click()
    refused = page.locator("[data-testid=report-refused]")
    expect(refused).to_contain_text("smooth.png")
    expect(refused).to_contain_text("pas dessinée exactement sur la grille de pixels choisie")

    good = tmp_path / "grid.zip"
    good.write_bytes(build_zip(grid_entries()))
    page.get_by_label("Archive zip des images *").set_input_files(str(good))
    page.get_by_role("button", name="Vérifier et créer le thème").click()
    expect(page.locator("[data-testid=upload-status]")).to_contain_text("créé en brouillon avec 220 images", timeout=60_000)
    row = page.locator("[data-testid=admin-themes]").locator(f"tr[data-slug={slug}]")
    expect(row.locator("[data-testid=pixel-grid-badge]")).to_have_text("pixel art, grille 16 × 16")
    expect(grid).to_be_hidden()  # the form was reset, the checkbox with it
    assert not errors, errors
