"""The mail templates and relay settings (effigies.mail.service); the flows are in tests/accounts."""
from __future__ import annotations

import re

import pytest

from effigies.config import Settings
from effigies.mail.service import LOCALES, TEMPLATES_DIR, Relay, build, render

VALUES = {"name": "Zoé", "link": "https://effigies.example/#/email/verify?token=abc", "new_email": "new@example.fr",
          "site": "https://effigies.example"}


def test_every_template_exists_in_both_languages_and_fills_every_placeholder():
    names = {p.name.split(".")[0] for p in TEMPLATES_DIR.glob("*.txt")}
    assert {"verify_email", "confirm_new_email", "reset_password", "reset_no_account", "password_changed",
            "email_change_notice", "signup_confirm", "signup_existing"} <= names
    for name in names:
        texts = {}
        for locale in LOCALES:
            subject, body = render(name, locale, VALUES)
            assert subject and "$" not in subject + body, f"{name}.{locale}"
            assert subject.endswith("— Effigies Edification")
            texts[locale] = body
        assert texts["fr"] != texts["en"]


def test_a_message_says_who_it_is_from_and_in_which_language():
    settings = Settings(EE_MAIL_FROM="Effigies <bonjour@effigies.example>", EE_PUBLIC_URL="https://effigies.example")
    message = build(to="zoe@example.fr", template="reset_password", locale="en", values=VALUES, settings=settings)
    assert message["From"] == "Effigies <bonjour@effigies.example>" and message["To"] == "zoe@example.fr"
    assert message["Content-Language"] == "en" and message["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<.+@effigies\.example>", message["Message-ID"])
    assert VALUES["link"] in message.get_content()


def test_relay_urls():
    relay = Relay.from_url("smtp://mailer:p%40ss@smtp.example:587?starttls=required")
    assert (relay.host, relay.port, relay.tls, relay.starttls, relay.username, relay.password) == (
        "smtp.example", 587, False, "required", "mailer", "p@ss")
    assert Relay.from_url("smtps://smtp.example").port == 465 and Relay.from_url("smtp://localhost").port == 25
    for bad in ("http://smtp.example", "smtp://", "smtp://h?starttls=maybe"):
        with pytest.raises(ValueError):
            Relay.from_url(bad)


def test_the_outbox_is_a_local_mode_thing_only(tmp_path):
    with pytest.raises(ValueError, match="EE_MAIL_OUTBOX_DIR"):
        Settings(EE_ENV="production", EE_MAIL_OUTBOX_DIR=str(tmp_path), EE_SECRET_KEY="x" * 40,
                 DATABASE_URL="postgresql://db/x", REDIS_URL="redis://r:6379/0", STRIPE_SECRET_KEY="sk",
                 STRIPE_WEBHOOK_SECRET="wh", STRIPE_PUBLISHABLE_KEY="pk", EE_SMTP_URL="smtp://relay")
