"""The e-mail link pages in Chromium, against the real stack and its real SMTP sink:

sign up in the UI (welcome notice) → the local outbox page (#/mail, linked from the footer) →
click the verification link of the message → "confirmed" → log out → "Mot de passe oublié ?" →
submit → the reset link from the outbox → a new password → log in with it. Then the account
page (resend the link, change of address through its link) and, at 360 px in English, the pages
a broken or spent link lands on.

The outbox is also read through GET /api/mail/outbox?to=… (what the page lists).
"""
from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "staple-battery-horse-42"


def _address(prefix: str = "page") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@players.effigies.fr"


def _outbox(stack, to: str) -> list[dict]:
    response = httpx.get(f"{stack.url}/api/mail/outbox", params={"to": to}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["messages"]  # newest first


def _no_page_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def _open_outbox_message(page: Page, to: str, subject: str):
    """#/mail through the footer link; the newest message to `to` with this subject."""
    page.locator("footer").get_by_role("link", name="Boîte d’envoi (locale)").click()
    expect(page).to_have_url(re.compile(r"#/mail$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Boîte d’envoi (locale)")
    message = page.get_by_test_id("outbox-message").filter(has_text=to).filter(has_text=subject).first
    expect(message).to_be_visible()
    # Text, not markup: the subject is the heading, the body a <pre> whose addresses are links.
    expect(message.get_by_role("heading", level=2)).to_have_text(subject)
    expect(message.get_by_test_id("outbox-to")).to_have_text(to)
    return message


def test_sign_up_confirm_from_the_outbox_then_reset_the_password(context, e2e_server, stack):
    page = context.new_page()
    errors = _no_page_errors(page)
    email = _address("journey")

    page.goto("/#/signup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer un compte")
    assert page.evaluate("async () => (await import('/js/i18n.js')).missingKeys()") == {"en": [], "fr": []}
    page.get_by_label("Nom affiché").fill("Ada Mél")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Créer mon compte").click()
    # The same answer for every address: check your inbox. Nobody is logged in yet.
    sent_panel = page.get_by_test_id("signup-sent")
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre boîte de réception")
    expect(sent_panel).to_contain_text(f"Nous avons envoyé un e-mail à {email}.")
    expect(page.get_by_role("navigation").get_by_role("link", name="Connexion")).to_be_visible()

    # The sign-up's e-mail, in the UI's language, read on the outbox page the panel links to.
    [sent] = _outbox(stack, email)
    assert sent["subject"] == "Terminez la création de votre compte — Effigies Edification"
    page.get_by_test_id("signup-outbox").click()
    expect(page).to_have_url(re.compile(r"#/mail$"))
    message = page.get_by_test_id("outbox-message").filter(has_text=email).filter(has_text=sent["subject"]).first
    expect(message.get_by_role("heading", level=2)).to_have_text(sent["subject"])
    link = message.get_by_test_id("outbox-link").filter(has_text="/#/signup/confirm?token=")
    expect(link).to_have_count(1)
    assert link.get_attribute("href") == re.search(r"https?://\S+/#/signup/confirm\?token=[\w-]+", sent["text"]).group(0)
    link.click()
    # The link made the account, its address confirmed, and logged this browser in.
    flash = page.get_by_test_id("flash")
    expect(flash).to_have_text("Bienvenue, Ada Mél ! Votre compte est créé et votre adresse confirmée.")
    expect(page.get_by_test_id("user-name")).to_have_text("Bonjour, Ada Mél")

    # The notice is shown once: the next page has none.
    page.get_by_role("navigation").get_by_role("link", name="Mon compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    expect(page.get_by_test_id("flash")).to_have_count(0)
    expect(page.get_by_test_id("account-email")).to_contain_text(email)
    status = page.get_by_test_id("email-status")
    expect(status).to_have_attribute("data-verified", "true")
    expect(status).to_contain_text("Confirmée")
    expect(page.get_by_test_id("resend-verification")).to_have_count(0)

    # The same link again, in another tab: spent, and the page says to log in.
    other = context.new_page()
    other.goto(re.search(r"https?://\S+/#/signup/confirm\?token=[\w-]+", sent["text"]).group(0))
    used = other.get_by_test_id("signup-confirm-status")
    expect(used).to_have_attribute("data-code", "token_used")
    expect(used).to_contain_text("Ce lien a déjà servi")
    expect(other.get_by_test_id("signup-confirm-login")).to_be_visible()
    other.close()

    # Forgotten password, logged out.
    page.get_by_test_id("logout").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Connexion")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Connexion").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mot de passe oublié")
    expect(page.get_by_label("Adresse e-mail")).to_have_value(email)  # carried over
    page.get_by_role("button", name="M’envoyer un lien").click()
    expect(page.get_by_test_id("forgot-status")).to_contain_text(
        f"Nous avons envoyé un e-mail à {email}. Son lien est valable 30 minutes.")

    reset_mail = _outbox(stack, email)[0]
    assert reset_mail["subject"] == "Réinitialisez votre mot de passe — Effigies Edification"
    message = _open_outbox_message(page, email, reset_mail["subject"])
    message.get_by_test_id("outbox-link").filter(has_text="/#/password/reset?token=").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choisir un nouveau mot de passe")
    form = page.get_by_role("form", name="Choisir un nouveau mot de passe")
    # The page's own checks first: too short, then different.
    form.get_by_label("Nouveau mot de passe", exact=True).fill("short")
    form.get_by_role("button", name="Changer mon mot de passe").click()
    expect(page.get_by_test_id("reset-error")).to_have_text("Le mot de passe doit contenir au moins 10 caractères.")
    form.get_by_label("Nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("Nouveau mot de passe (confirmation)").fill(NEW_PASSWORD + "x")
    form.get_by_role("button", name="Changer mon mot de passe").click()
    expect(page.get_by_test_id("reset-error")).to_have_text("Les deux nouveaux mots de passe ne sont pas identiques.")
    form.get_by_label("Nouveau mot de passe (confirmation)").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Changer mon mot de passe").click()
    expect(page.get_by_test_id("reset-status")).to_contain_text("Mot de passe changé. Connectez-vous avec votre nouveau mot de passe.")
    expect(page.get_by_test_id("reset-login")).to_be_focused()

    # The same link again (another tab): spent, with a way to ask for a new one.
    reset_url = re.search(r"https?://\S+/#/password/reset\?token=[\w-]+", reset_mail["text"]).group(0)
    other = context.new_page()
    other.goto(reset_url)
    other.get_by_label("Nouveau mot de passe", exact=True).fill(NEW_PASSWORD + "-again")
    other.get_by_label("Nouveau mot de passe (confirmation)").fill(NEW_PASSWORD + "-again")
    other.get_by_role("button", name="Changer mon mot de passe").click()
    used = other.get_by_test_id("reset-status")
    expect(used).to_have_attribute("data-code", "token_used")
    expect(used).to_contain_text("Ce lien a déjà servi")
    expect(used.get_by_role("link", name="Demander un nouveau lien")).to_have_attribute("href", "#/password/forgot")
    other.close()

    # Log in with the new password.
    page.get_by_test_id("reset-login").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_test_id("user-name")).to_have_text("Bonjour, Ada Mél")
    assert errors == []


def test_account_page_resends_the_link_and_changes_the_address_through_its_link(context, make_user, stack):
    page = context.new_page()
    errors = _no_page_errors(page)
    client, _ = make_user()
    email = client.get("/api/me").json()["email"]
    new_email = _address("moved")
    page.context.add_cookies([{"name": "ee_session", "value": client.cookies["ee_session"], "url": stack.url}])

    page.goto("/#/account")
    expect(page.get_by_test_id("email-status")).to_have_attribute("data-verified", "false")
    expect(page.get_by_test_id("email-status")).to_contain_text("Non confirmée")
    page.get_by_test_id("resend-verification").click()
    expect(page.get_by_test_id("resend-status")).to_have_text(f"Lien envoyé à {email}.")
    assert _outbox(stack, email)[0]["subject"] == "Confirmez votre adresse e-mail — Effigies Edification"

    form = page.get_by_role("form", name="Changer d’adresse e-mail")
    change_status = page.get_by_test_id("change-email-status")
    form.get_by_label("Nouvelle adresse e-mail").fill(new_email)
    form.get_by_label("Mot de passe actuel").fill("not my password")
    form.get_by_role("button", name="Envoyer le lien de confirmation").click()
    expect(change_status).to_have_text("Mot de passe actuel incorrect.")
    form.get_by_label("Mot de passe actuel").fill(PASSWORD)
    form.get_by_role("button", name="Envoyer le lien de confirmation").click()
    expect(change_status).to_have_text(
        f"Nous avons envoyé un lien à {new_email} ; votre adresse changera dès que vous l’ouvrirez.")
    expect(page.get_by_test_id("account-email")).to_contain_text(email)  # not changed yet

    [confirm] = _outbox(stack, new_email)
    link = re.search(r"https?://\S+/#/email/verify\?token=[\w-]+", confirm["text"]).group(0)
    page.goto(link)
    expect(page.get_by_test_id("verify-status")).to_have_text(f"Votre adresse {new_email} est confirmée.")
    page.get_by_role("link", name="Aller à mon compte").click()
    expect(page.get_by_test_id("account-email")).to_contain_text(new_email)
    expect(page.get_by_test_id("email-status")).to_have_attribute("data-verified", "true")

    # The same link once more, in a new tab: spent; the address is confirmed, so no "send again".
    other = context.new_page()
    other.goto(link)
    expect(other.get_by_test_id("verify-status")).to_have_attribute("data-code", "token_used")
    expect(other.get_by_test_id("verify-status")).to_have_text("Ce lien a déjà servi : chaque lien ne fonctionne qu’une seule fois.")
    expect(other.get_by_test_id("resend-verification")).to_have_count(0)
    expect(other.get_by_role("link", name="Aller à mon compte")).to_be_visible()
    other.close()
    assert errors == []


def _fits(page: Page, where: str) -> None:
    width, scroll = page.evaluate("() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]")
    assert scroll <= width, f"{where}: horizontal scroll ({scroll} px in {width} px)"


def test_link_pages_in_english_at_360_px(new_context, make_user, stack, screenshots):
    context = new_context(viewport={"width": 360, "height": 740}, locale="en-GB")
    page = context.new_page()
    errors = _no_page_errors(page)
    page.goto("/")
    page.locator("#lang-switch button[data-locale=en]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your unique avatar, invented for you")

    # A link without its token, and one with a token nobody issued.
    page.goto("/#/password/reset")
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    expect(page.get_by_test_id("reset-status")).to_contain_text("This link is not valid")
    expect(page.get_by_role("link", name="Ask for a new link")).to_be_visible()
    _fits(page, "reset without token")

    page.goto("/#/email/verify?token=" + "x" * 43)
    status = page.get_by_test_id("verify-status")
    expect(status).to_have_attribute("data-code", "invalid_token")
    expect(status).to_have_text("This link is not valid: it may have been cut off when it was copied.")
    expect(page.get_by_role("link", name="Log in to get a new link")).to_be_visible()
    _fits(page, "verify with an unknown token")
    page.screenshot(path=str(screenshots / "email-verify-invalid-360-en.png"), full_page=True)

    # Forgotten password for an address without an account: the same notice as for one.
    email = _address("nobody")
    page.goto("/#/password/forgot?email=" + email)
    expect(page.get_by_label("E-mail address")).to_have_value(email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_test_id("forgot-status")).to_contain_text(
        f"We have sent an e-mail to {email}. Its link works for 30 minutes.")
    _fits(page, "forgot")
    page.screenshot(path=str(screenshots / "password-forgot-360-en.png"), full_page=True)
    [sent] = _outbox(stack, email)
    assert sent["subject"] == "Password reset request — Effigies Edification"

    page.locator("footer").get_by_role("link", name="Mail outbox (local)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mail outbox (local)")
    message = page.get_by_test_id("outbox-message").filter(has_text=email).first
    expect(message).to_be_visible()
    expect(message.get_by_test_id("outbox-text")).to_contain_text(sent["text"].strip().splitlines()[0])
    # Newest first, as the API lists them.
    ids = page.get_by_test_id("outbox-message").evaluate_all("els => els.map(e => e.dataset.id)")
    assert ids == sorted(ids, reverse=True)
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id("outbox-status")).to_contain_text("message")
    _fits(page, "mail outbox")
    page.screenshot(path=str(screenshots / "mail-outbox-360-en.png"), full_page=True)

    # The account page's e-mail section and forms, unconfirmed address.
    client, _ = make_user()
    context.add_cookies([{"name": "ee_session", "value": client.cookies["ee_session"], "url": stack.url}])
    page = context.new_page()  # a fresh boot reads the session (a hash change alone would not)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/#/account")
    expect(page.get_by_test_id("email-status")).to_contain_text("Not confirmed")
    for control in (page.get_by_test_id("resend-verification"), page.get_by_role("button", name="Send the confirmation link")):
        expect(control).to_be_visible()
        box = control.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 361, box
    _fits(page, "account")
    page.screenshot(path=str(screenshots / "account-email-360-en.png"), full_page=True)
    assert errors == []

