"""My avatars' "Use for my e-mail (Gravatar/Libravatar)", in Chromium on the real stack, in
French and English: refused with a readable message until the address is verified, then it
links the avatar (GET /avatar/{md5} shows it) and "Stop using it" unlinks it."""
from __future__ import annotations

import hashlib

import pytest
from playwright.sync_api import expect

from tests.avatars.helpers import candidates, verify_address
from tests.e2e.test_avatar_views import choose_language, logged_in

pytestmark = pytest.mark.browser

TEXT = {
    "fr": {"link": "Utiliser pour mon e-mail (Gravatar/Libravatar)", "unlink": "Ne plus l’utiliser pour mon e-mail",
           "unverified": "Confirmez d’abord votre adresse e-mail"},
    "en": {"link": "Use for my e-mail (Gravatar/Libravatar)", "unlink": "Stop using it for my e-mail",
           "unverified": "Confirm your e-mail address first"},
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_linking_the_verified_address_to_an_avatar_and_unlinking_it(lang, context, make_user, client):
    say = TEXT[lang]
    user, _ = make_user(balance_cents=100)
    bought = user.post(f"/api/candidates/{candidates(user, 1)[0]['id']}/purchase", json={"withdrawal_waiver": True})
    public_id = bought.json()["avatar"]["public_id"]
    page, errors = logged_in(context, user)
    page.goto("/#/avatars")
    choose_language(page, lang)
    button = page.get_by_test_id("email-link")
    expect(button).to_have_text(say["link"])
    button.click()
    expect(page.get_by_text(say["unverified"])).to_be_visible()

    email = verify_address(user)
    digest = hashlib.md5(email.strip().lower().encode()).hexdigest()
    page.reload()
    choose_language(page, lang)
    expect(button).to_have_text(say["link"])
    button.click()
    expect(button).to_have_text(say["unlink"])
    expect(button).to_have_attribute("aria-pressed", "true")
    linked = client.get(f"/avatar/{digest}", params={"d": "404", "s": 128})
    assert linked.content == client.get(f"/a/{public_id}.png", params={"s": 128}).content
    button.click()
    expect(button).to_have_text(say["link"])
    assert client.get(f"/avatar/{digest}", params={"d": "404"}).status_code == 404
    assert errors == []
