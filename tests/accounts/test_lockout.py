"""Nobody but the owner can lock an account (effigies.accounts.devices): ten wrong passwords from
ten addresses used to lock its owner out for the whole window (2026-12 hostile test)."""
from __future__ import annotations

import re

from effigies.config import get_settings
from tests.conftest import ApiClient
from tests.hostile.conftest import PASSWORD, fresh_ip, make_account

LINK = re.compile(r"token=([A-Za-z0-9_-]+)")
NEW_PASSWORD = "a-brand-new-passphrase-42"


def _client(stack) -> ApiClient:
    return ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()})


def _log_in(c: ApiClient, email: str, password: str):
    return c.post("/api/auth/login", json={"email": email, "password": password})


def _lock_out(stack, email: str) -> None:
    """A stranger's wrong guesses, each from an address of its own, until the account's budget is spent."""
    for i in range(get_settings().login_failures_per_account):
        with _client(stack) as stranger:
            assert _log_in(stranger, email, f"guess-{i}-guess").status_code == 401
    with _client(stack) as stranger:
        assert _log_in(stranger, email, PASSWORD).status_code == 429  # a new device: locked, right password or not


def test_the_owners_own_device_still_gets_in_after_a_strangers_guesses(stack):
    victim = make_account(stack)
    with _client(stack) as laptop:
        first = _log_in(laptop, victim.email, PASSWORD)
        assert first.status_code == 200, first.text
        device = laptop.cookies.get("ee_device")
        assert device and "HttpOnly" in first.headers["set-cookie"]
        _lock_out(stack, victim.email)
        again = _log_in(laptop, victim.email, PASSWORD)
        assert again.status_code == 200, again.text
    # The owner is in: the strangers' failures are wiped, a new device gets in too.
    with _client(stack) as phone:
        assert _log_in(phone, victim.email, PASSWORD).status_code == 200


def test_a_device_cookie_of_another_account_does_not_unlock_this_one(stack):
    attacker, victim = make_account(stack), make_account(stack)
    with _client(stack) as own:
        assert _log_in(own, attacker.email, PASSWORD).status_code == 200  # the attacker's own device cookie
        _lock_out(stack, victim.email)
        assert _log_in(own, victim.email, PASSWORD).status_code == 429
        # Nor can a made-up cookie.
        own.cookies.set("ee_device", "forged.nonsense", domain="127.0.0.1", path="/api/auth")
        assert _log_in(own, victim.email, PASSWORD).status_code == 429


def test_a_known_devices_own_failures_lock_only_that_device(stack):
    victim = make_account(stack)
    with _client(stack) as shared_pc, _client(stack) as phone:
        assert _log_in(shared_pc, victim.email, PASSWORD).status_code == 200
        for i in range(get_settings().login_failures_per_account):
            assert _log_in(shared_pc, victim.email, f"typo-{i}-typo").status_code == 401
        assert _log_in(shared_pc, victim.email, PASSWORD).status_code == 429
        assert _log_in(phone, victim.email, PASSWORD).status_code == 200


def test_a_reset_link_ends_the_lock_out_on_a_new_device(stack):
    victim = make_account(stack)
    _lock_out(stack, victim.email)
    with _client(stack) as new_phone:
        assert new_phone.post("/api/auth/password/forgot", json={"email": victim.email}).status_code == 202
        [message] = new_phone.get("/api/mail/outbox", params={"to": victim.email}).json()["messages"][:1]
        token = LINK.search(message["text"]).group(1)
        done = new_phone.post("/api/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
        assert done.status_code == 204, done.text
        assert _log_in(new_phone, victim.email, NEW_PASSWORD).status_code == 200
