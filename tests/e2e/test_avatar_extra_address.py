"""My avatars' e-mail addresses for Gravatar/Libravatar, in Chromium on the real stack, in French
and English: add an extra address (pending), open the link mailed to it (the real SMTP sink),
see it confirmed, pick it under an avatar and link it (GET /avatar/{md5} shows the avatar),
remove it (its link goes)."""
from __future__ import annotations

import hashlib
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.avatars.helpers import candidates, verify_address
from tests.e2e.test_avatar_views import choose_language, logged_in

pytestmark = pytest.mark.browser

TEXT = {
    "fr": {"pending": "En attente de confirmation", "verified": "Confirmée", "sent": "Nous avons envoyé un lien à",
           "done": "est confirmée", "unlink": "Ne plus l’utiliser pour mon e-mail", "removed": "a été retirée",
           "none": "N’affiche aucun avatar", "shows": "Affiche l’avatar"},
    "en": {"pending": "Waiting for confirmation", "verified": "Confirmed", "sent": "We sent a link to",
           "done": "is confirmed", "unlink": "Stop using it for my e-mail", "removed": "was removed",
           "none": "Shows no avatar", "shows": "Shows avatar"},
}
LINK = re.compile(r"https?://\S+/#/email/address\?token=([A-Za-z0-9_-]+)")


def _token(client, email: str) -> str:
    deadline = time.monotonic() + 10
    while not (messages := client.get("/api/mail/outbox", params={"to": email}).json()["messages"]):
        assert time.monotonic() < deadline, "no confirmation mail"
        time.sleep(0.1)
    return LINK.search(messages[0]["text"]).group(1)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_adding_confirming_linking_and_removing_an_extra_address(lang, context, new_context, make_user, client,
                                                                 screenshots):
    say = TEXT[lang]
    user, _ = make_user(balance_cents=100)
    bought = user.post(f"/api/candidates/{candidates(user, 1)[0]['id']}/purchase", json={"withdrawal_waiver": True})
    public_id = bought.json()["avatar"]["public_id"]
    own = verify_address(user)
    extra = f"extra-{uuid.uuid4().hex[:10]}@players.effigies.fr"
    digest = hashlib.md5(extra.encode()).hexdigest()

    page, errors = logged_in(context, user)
    page.goto("/#/avatars")
    choose_language(page, lang)
    panel = page.get_by_test_id("addresses")
    expect(panel.get_by_test_id("address")).to_have_count(1)  # the account's own
    expect(panel.get_by_test_id("address").first).to_contain_text(own)
    expect(page.get_by_test_id("email-link-address")).to_be_hidden()  # nothing to pick yet

    page.get_by_test_id("address-input").fill(extra)
    page.get_by_test_id("address-add").click()
    expect(page.get_by_test_id("address-status")).to_contain_text(say["sent"])
    row = panel.locator(f'[data-address="{extra}"]')
    expect(row.get_by_test_id("address-state")).to_have_text(say["pending"])

    page.goto(f"/#/email/address?token={_token(client, extra)}")
    choose_language(page, lang)
    expect(page.get_by_test_id("address-verify-status")).to_contain_text(say["done"])
    page.get_by_test_id("address-verify-next").click()
    expect(row.get_by_test_id("address-state")).to_have_text(say["verified"])
    expect(row.get_by_test_id("address-shows")).to_have_text(say["none"])

    # Under the avatar: pick the extra address, then link it.
    pick = page.get_by_test_id("email-link-address")
    expect(pick).to_be_visible()
    pick.select_option(label=extra)
    page.get_by_test_id("email-link").click()
    expect(page.get_by_test_id("email-link")).to_have_text(say["unlink"])
    expect(row.get_by_test_id("address-shows")).to_have_text(f"{say['shows']} {public_id}")
    linked = client.get(f"/avatar/{digest}", params={"d": "404", "s": 128})
    assert linked.content == client.get(f"/a/{public_id}.png", params={"s": 128}).content
    own_digest = hashlib.md5(own.encode()).hexdigest()
    assert client.get(f"/avatar/{own_digest}", params={"d": "404"}).status_code == 404  # not the account's
    page.screenshot(path=str(screenshots / f"avatar-addresses-{lang}.png"), full_page=True)

    # The support desk shows it to an admin (in a profile of their own), linked.
    admin, _ = make_user(role="admin")
    desk, desk_errors = logged_in(new_context(), admin)
    desk.goto(f"/#/admin/support?q={extra}")
    choose_language(desk, lang)
    shown = desk.get_by_test_id("support-addresses")
    expect(shown).to_contain_text(extra)
    expect(shown).to_contain_text({"fr": "affiche un avatar", "en": "shows an avatar"}[lang])
    assert desk_errors == []

    row.get_by_test_id("address-remove").click()
    expect(page.get_by_test_id("address-status")).to_contain_text(say["removed"])
    expect(panel.locator(f'[data-address="{extra}"]')).to_have_count(0)
    assert client.get(f"/avatar/{digest}", params={"d": "404"}).status_code == 404
    assert errors == []
