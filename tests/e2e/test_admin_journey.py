"""A new theme from start to sale, in Chromium, through the admin pages only:

the admin logs in → uploads a zip of 220 images (fresh samples of the shipped "Pixel heroes"
generator, made here) through the new-theme form → opens the theme's training page, starts the
quick preset (EE_TRAINING_QUICK_IMAGES=256 in the test stack) → watches the run's progress reach
its end → publishes the trained version from the themes table → the theme is in the public
catalogue → a plain user opens it and generates candidates that appear.
"""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.themes.archives import build_zip, good_entries

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UPLOAD_TIMEOUT_MS = 120_000    # 220 images decoded and fingerprinted on a busy machine
TRAINING_TIMEOUT_MS = 420_000  # the quick preset: seconds alone, minutes when the machine is shared
GENERATION_TIMEOUT_MS = 180_000


def log_in_as_admin(page: Page, stack) -> None:
    page.goto("/#/login?next=/admin")
    page.get_by_label("Adresse e-mail").fill(stack.env["EE_ADMIN_EMAIL"])
    page.get_by_label("Mot de passe").fill(stack.env["EE_ADMIN_PASSWORD"])
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", level=1, name="Administration")).to_be_visible()


def test_admin_uploads_trains_and_publishes_a_theme_then_a_user_generates(
    new_context, stack, make_user, screenshots, tmp_path
):
    admin = new_context().new_page()
    errors: list[str] = []
    admin.on("pageerror", lambda exc: errors.append(f"admin: {exc}"))
    log_in_as_admin(admin, stack)

    # ---- upload: the real form, a real zip ----
    slug = f"heroes-{uuid.uuid4().hex[:6]}"
    archive = tmp_path / "heroes.zip"
    archive.write_bytes(build_zip(good_entries()))
    admin.get_by_label("Nom (français) *").fill("Héros de l’essai")
    admin.get_by_label("Nom (anglais) *").fill("Trial heroes")
    admin.get_by_label("Identifiant *").fill(slug)
    admin.get_by_label("Licence et crédits des images *").fill("Samples of the Pixel heroes generator (CC0 1.0).")
    admin.get_by_label("Pixel art (agrandi sans lissage)").check()
    admin.get_by_label("Archive zip des images *").set_input_files(str(archive))
    admin.get_by_role("button", name="Vérifier et créer le thème").click()
    expect(admin.get_by_test_id("upload-status")).to_contain_text(
        "« Héros de l’essai » créé en brouillon avec 220 images", timeout=UPLOAD_TIMEOUT_MS
    )
    row = admin.locator(f"[data-testid=admin-themes] tr[data-slug={slug}]")
    expect(row).to_have_attribute("data-status", "draft")
    expect(row.get_by_test_id("publish")).to_have_count(0)  # nothing trained, nothing to publish

    # ---- training: the quick preset, watched to its end ----
    row.get_by_role("link", name="Entraîner le générateur de « Héros de l’essai »").click()
    expect(admin).to_have_url(re.compile(rf"#/admin/themes/{slug}/training$"))
    expect(admin.get_by_role("heading", level=1)).to_have_text("Entraînement — Héros de l’essai")
    quick = admin.get_by_role("radio", name=re.compile(r"^Rapide — 256 images"))
    quick.check()
    admin.get_by_role("button", name="Lancer l’entraînement").click()
    # The message follows the run: queued, then running (a fast worker may skip the first).
    expect(admin.get_by_test_id("training-message")).to_have_text(
        re.compile(r"^(Entraînement mis en file d’attente\.|Entraînement en cours\.)$"))
    run = admin.get_by_test_id("training-run")
    status = admin.get_by_test_id("training-status")
    expect(run).to_be_visible()
    # While it runs, the start button waits and a cancel button is offered.
    expect(admin.get_by_test_id("training-start")).to_be_disabled()
    # What the page showed along the way, read every poll: the images seen must climb to 256.
    admin.evaluate(
        """() => {
            window.__seen = [];
            const look = () => {
                const run = document.querySelector('[data-testid=training-run]');
                const bar = run && run.querySelector('progress');
                if (bar) window.__seen.push([run.dataset.status, Number(bar.value), Number(bar.max)]);
            };
            new MutationObserver(look).observe(document.querySelector('[data-testid=training-current]'), {childList: true});
            look();
        }"""
    )
    expect(run).to_have_attribute("data-status", "done", timeout=TRAINING_TIMEOUT_MS)
    expect(status).to_have_text("Terminé")
    expect(run).to_contain_text("Terminé : la version 1 du modèle est prête.")
    progress = run.locator("progress")
    expect(progress).to_have_attribute("max", "256")
    expect(progress).to_have_attribute("value", "256")
    expect(progress).to_have_attribute("aria-label", "Progression : 100 %")
    expect(run.locator("dd").nth(1)).to_have_text(re.compile(r"^256 / 256$"))  # "Images vues"
    seen = admin.evaluate("() => window.__seen")
    assert any(s == "running" for s, _, _ in seen), f"the page never showed the run running: {seen}"
    shown = [value for _, value, _ in seen]
    assert shown == sorted(shown), f"progress went backwards: {seen}"
    expect(admin.get_by_test_id("training-cancel")).to_have_count(0)
    expect(admin.get_by_test_id("training-start")).to_be_enabled()
    expect(run.get_by_test_id("training-loss-chart")).to_be_visible()
    admin.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=training-samples]'); return i && i.complete && i.naturalWidth > 0; }"
    )
    expect(admin.get_by_test_id("training-history").locator("tbody tr")).to_have_count(1)
    expect(admin.get_by_test_id("training-history")).to_contain_text("Version 1")
    admin.screenshot(path=str(screenshots / "admin-training.png"), full_page=True)

    # ---- publish from the themes table ----
    admin.get_by_role("link", name="← Retour à l’administration").click()
    row = admin.locator(f"[data-testid=admin-themes] tr[data-slug={slug}]")
    expect(row).to_have_attribute("data-status", "ready")
    expect(row.get_by_role("combobox", name="Version à publier pour « Héros de l’essai »")).to_have_value(re.compile(r"^[0-9a-f-]{36}$"))
    row.get_by_role("button", name="Publier la version choisie de « Héros de l’essai »").click()
    expect(admin.get_by_test_id("admin-status")).to_have_text("« Héros de l’essai » est publié.")
    expect(row).to_have_attribute("data-status", "published")
    expect(row).to_contain_text("Version 1")

    # ---- a plain user: the catalogue has it, and it generates ----
    user_client, _ = make_user()
    shopper = new_context()
    shopper.add_cookies([{"name": "ee_session", "value": user_client.cookies.get("ee_session"), "url": stack.url}])
    page = shopper.new_page()
    page.on("pageerror", lambda exc: errors.append(f"user: {exc}"))
    page.goto("/")
    card = page.locator(f"[data-testid=theme-card][data-slug='{slug}']")
    expect(card.get_by_role("heading")).to_have_text("Héros de l’essai")
    card.get_by_role("link", name="Héros de l’essai").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Héros de l’essai")
    page.get_by_test_id("generate").click()
    # A 256-image generator is crude: near-twins among its 4 images may be refused, so "up to 4".
    expect(page.get_by_test_id("generation-status")).to_have_text(
        re.compile(r"^[1-4] propositions? prêtes?\.$"), timeout=GENERATION_TIMEOUT_MS
    )
    count = int(page.get_by_test_id("generation-status").inner_text()[0])
    candidates = page.get_by_test_id("candidate")
    expect(candidates).to_have_count(count)
    page.wait_for_function(
        """(n) => {
            const imgs = [...document.querySelectorAll('[data-testid=candidate] img')];
            return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth === 256);
        }""",
        arg=count,
    )
    expect(candidates.locator("img").first).to_have_class(re.compile(r"\bpixelated\b"))  # the upload's pixel-art flag
    expect(candidates.get_by_test_id("buy").first).to_have_text(re.compile(r"^Acheter pour 0,10\s?€$"))

    # ---- the admin retires it (after a confirmation): it leaves the catalogue and the home page ----
    admin.once("dialog", lambda dialog: dialog.accept())
    row.get_by_test_id("retire").click()
    expect(row).to_have_attribute("data-status", "retired")
    page.goto("/")
    page.wait_for_function("() => document.body.dataset.ready === 'true'")
    expect(page.locator("[data-testid=theme-card]").first).to_be_visible()
    expect(page.locator(f"[data-testid=theme-card][data-slug='{slug}']")).to_have_count(0)
    expect(page.locator(f"[data-testid=showcase-tile][data-slug='{slug}']")).to_have_count(0)
    assert not errors, errors
