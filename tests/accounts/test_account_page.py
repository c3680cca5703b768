"""The account page in Chromium (French UI): change the password, then delete the account."""
import pytest

PASSWORD = "correct-horse-battery"


@pytest.fixture
def page(context):
    return context.new_page()


def test_change_password_then_delete_account_from_the_account_page(page, make_user, stack):
    from playwright.sync_api import expect

    user, _ = make_user()
    page.context.add_cookies([{"name": "ee_session", "value": user.cookies["ee_session"], "url": stack.url}])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto("/#/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    assert page.evaluate("async () => (await import('/js/i18n.js')).missingKeys()") == {"en": [], "fr": []}

    password_form = page.get_by_role("form", name="Changer de mot de passe")
    password_status = page.get_by_test_id("password-status")
    password_form.get_by_label("Mot de passe actuel").fill("not my password")
    password_form.get_by_label("Nouveau mot de passe", exact=True).fill("a brand new passphrase")
    password_form.get_by_label("Nouveau mot de passe (confirmation)").fill("a brand new passphrase")
    password_form.get_by_role("button", name="Changer mon mot de passe").click()
    expect(password_status).to_have_text("Mot de passe actuel incorrect.")
    expect(password_form.get_by_label("Mot de passe actuel")).to_have_attribute("aria-invalid", "true")

    password_form.get_by_label("Mot de passe actuel").fill(PASSWORD)
    password_form.get_by_label("Nouveau mot de passe (confirmation)").fill("something else entirely")
    password_form.get_by_role("button", name="Changer mon mot de passe").click()
    expect(password_status).to_contain_text("ne sont pas identiques")

    password_form.get_by_label("Nouveau mot de passe (confirmation)").fill("a brand new passphrase")
    password_form.get_by_role("button", name="Changer mon mot de passe").click()
    expect(password_status).to_contain_text("Mot de passe changé")
    assert user.get("/api/me").status_code == 401  # the other session ended

    delete_form = page.get_by_role("form", name="Supprimer mon compte")
    delete_form.get_by_label("Mot de passe", exact=True).fill("a brand new passphrase")
    delete_form.get_by_role("button", name="Supprimer définitivement mon compte").click()
    expect(page.get_by_test_id("delete-status")).to_contain_text("Cochez la case")
    delete_form.get_by_label("Je comprends que la suppression est définitive.").check()
    delete_form.get_by_role("button", name="Supprimer définitivement mon compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compte supprimé")
    expect(page.get_by_role("navigation").get_by_role("link", name="Connexion")).to_be_visible()
    assert page.evaluate("fetch('/api/me').then(r => r.status)") == 401
    assert errors == []


def test_deleting_an_account_with_money_left_shows_the_amount_and_asks_again_when_it_changed(page, make_user, stack):
    from playwright.sync_api import expect

    from tests.conftest import fund

    user, user_id = make_user(balance_cents=50)
    page.context.add_cookies([{"name": "ee_session", "value": user.cookies["ee_session"], "url": stack.url}])
    page.goto("/#/account")
    balance = page.get_by_test_id("delete-balance")
    expect(balance).to_contain_text("0,50 €")
    expect(balance).to_contain_text("n’est pas remboursé")

    fund(user_id, 50)  # a top-up lands while the page is open
    delete_form = page.get_by_role("form", name="Supprimer mon compte")
    delete_form.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    delete_form.get_by_label("Je comprends que la suppression est définitive.").check()
    delete_form.get_by_role("button", name="Supprimer définitivement mon compte").click()
    expect(page.get_by_test_id("delete-status")).to_contain_text("Votre solde a changé")
    expect(balance).to_contain_text("1,00 €")
    assert user.get("/api/me").status_code == 200  # nothing was deleted

    delete_form.get_by_label("Je comprends que la suppression est définitive.").check()
    delete_form.get_by_role("button", name="Supprimer définitivement mon compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compte supprimé")
    assert user.get("/api/me").status_code == 401
