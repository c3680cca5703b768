"""The password policy (effigies/accounts/passwords.py): zxcvbn score 3+, never the person's own
e-mail or name; the same rule at sign-up, change and reset, and in the meter's answers."""
from __future__ import annotations

import uuid

import pytest

from tests.accounts.test_email_links import _messages, _token
from tests.conftest import ApiClient, sign_up
from tests.generation.test_limits import fresh_ip

STRONG = "correct-horse-battery"


def _address(prefix: str = "pw") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@players.effigies.fr"


@pytest.fixture
def own_address(stack):
    """A client from an address of its own: sign-ups are budgeted per address (refusals count)."""
    with ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()}) as c:
        yield c


def _refused(response, code: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code, response.text


def test_sign_up_refuses_guessable_and_personal_passwords_and_keeps_no_account(own_address):
    client = own_address
    email = _address("ada.lovelace")
    local = email.split("@")[0]
    for password, code in (("password123", "password_weak"), ("qwertyuiop", "password_weak"),
                           ("1234567890", "password_weak"), (email, "password_personal"),
                           (local.upper(), "password_personal"), ("Ada Lovelace Ada", "password_personal")):
        _refused(client.post("/api/auth/signup", json={"email": email, "password": password,
                                                       "display_name": "Ada Lovelace Ada"}), code)
    assert client.post("/api/auth/login", json={"email": email, "password": "password123"}).status_code == 401
    made = sign_up(client, email, STRONG, "Ada Lovelace Ada")
    assert made.status_code == 200, made.text


def test_a_change_or_a_reset_to_a_weak_password_changes_nothing(own_address, stack):
    client = own_address
    email = _address()
    assert sign_up(client, email, STRONG, "Bo").status_code == 200
    weak = client.post("/api/me/password", json={"current_password": STRONG, "new_password": "motdepasse123"})
    _refused(weak, "password_weak")
    assert client.get("/api/me").status_code == 200  # sessions kept: nothing changed

    with ApiClient(base_url=stack.url, timeout=30) as other:
        assert other.post("/api/auth/password/forgot", json={"email": email}).status_code == 202
        token = _token(_messages(client, email)[0], "password/reset")
        _refused(other.post("/api/auth/password/reset", json={"token": token, "new_password": "azertyuiop"}), "password_weak")
        # The link is not spent by a refusal, and the old password still logs in.
        assert other.post("/api/auth/login", json={"email": email, "password": STRONG}).status_code == 200
        done = other.post("/api/auth/password/reset", json={"token": token, "new_password": "staple-battery-horse-42"})
        assert done.status_code == 204, done.text


def test_the_meter_answers_with_the_rule_the_forms_apply(client, make_user):
    def meter(c, **body):
        response = c.post("/api/auth/password-strength", json=body)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        return response.json()

    assert meter(client, password="password123") == {"score": 0, "ok": False, "code": "password_weak"}
    assert meter(client, password="short-x") ["code"] == "password_short"
    assert meter(client, password=STRONG) == {"score": 4, "ok": True, "code": None}
    assert meter(client, password="grace.hopper1906", email="grace.hopper1906@players.effigies.fr")["code"] == "password_personal"
    # Logged in, the person's own address counts, whatever the body says.
    user, _ = make_user()
    own = user.get("/api/me").json()["email"]
    assert meter(user, password=own, email="someone.else@players.effigies.fr")["code"] == "password_personal"
    _refused(client.post("/api/auth/password-strength", json={"password": "x" * 129}), "invalid_request")
