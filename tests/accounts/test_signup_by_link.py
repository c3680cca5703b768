"""Sign-up never tells whether an address has an account (effigies.accounts.signups).

Sign-up used to answer 409 email_taken for a known address. Now everybody gets 202 "check your
inbox" and exactly one e-mail: a link that creates the account, or, for an address that has one,
a notice to its owner. The account exists once the link is opened. Every message is read from
the stack's real SMTP sink."""
from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from tests.accounts.test_email_links import _messages
from tests.conftest import SIGNUP_LINK, ApiClient, sign_up, signup_link

PASSWORD = "correct-horse-battery"
OTHER_PASSWORD = "staple-battery-horse-42"


def _address() -> str:
    return f"join-{uuid.uuid4().hex[:10]}@players.effigies.fr"


def _ask(client: ApiClient, email: str, password: str = PASSWORD, **extra):
    return client.post("/api/auth/signup", json={"email": email, "password": password, "display_name": "Zoé", **extra})


def _users(email: str) -> list:
    from sqlalchemy import select

    from effigies.accounts.models import User
    from effigies.db import session_scope

    with session_scope() as session:
        return list(session.scalars(select(User).where(User.email == email)))


def _visible(response) -> tuple:
    """What a caller can see of an answer, but for the date and the request id."""
    varying = ("date", "x-request-id", "server-timing")
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in varying and k != "set-cookie")
    cookies = sorted(h.split("=", 1)[0] for h in response.headers.get_list("set-cookie"))  # names, not values
    return response.status_code, response.json(), headers, cookies


def test_sign_up_answers_the_same_for_a_known_and_an_unknown_address_and_tells_the_owner(client, stack):
    known, unknown = _address(), _address()
    assert sign_up(client, known, PASSWORD, "Ada").status_code == 200
    before = _users(known)[0]
    with ApiClient(base_url=stack.url, timeout=30) as stranger:
        stranger.get("/api/config")
        answers = [_ask(stranger, address, OTHER_PASSWORD, locale="en") for address in (known, unknown)]
        assert stranger.get("/api/me").status_code == 401  # nobody was logged in
    assert _visible(answers[0]) == _visible(answers[1])
    assert answers[0].status_code == 202 and answers[0].json() == {"status": "sent"}
    assert not any(h.startswith("ee_session=") for a in answers for h in a.headers.get_list("set-cookie"))

    # The owner is told, in the account's language (French here), with no link that acts.
    notice = _messages(client, known)[0]
    assert notice["subject"] == "Vous avez déjà un compte — Effigies Edification"
    assert notice["text"].startswith("Bonjour Ada,")
    assert "/#/login" in notice["text"] and "/#/password/forgot" in notice["text"]
    assert not SIGNUP_LINK.search(notice["text"]) and "token=" not in notice["text"]
    # ...and the account is as it was: one row, same name, same password.
    [after] = _users(known)
    assert (after.id, after.display_name, after.password_hash) == (before.id, before.display_name, before.password_hash)
    assert client.post("/api/auth/login", json={"email": known, "password": PASSWORD}).status_code == 200
    assert client.post("/api/auth/login", json={"email": known, "password": OTHER_PASSWORD}).status_code == 401

    # The new address got the link, in the language it signed up in; no account yet.
    [invite] = _messages(client, unknown)
    assert invite["subject"] == "Finish creating your account — Effigies Edification"
    assert SIGNUP_LINK.search(invite["text"]) and _users(unknown) == []


def test_the_link_creates_the_account_once_verified_and_logged_in(client, stack):
    email = _address()
    with ApiClient(base_url=stack.url, timeout=30) as phone:
        assert _ask(phone, email.upper()).status_code == 202
    token = signup_link(client, email)
    assert _users(email) == []
    # Opened in another browser than the one that signed up: it is the inbox that counts.
    opened = client.post("/api/auth/signup/confirm", json={"token": token})
    assert opened.status_code == 200, opened.text
    assert opened.json()["email"] == email and opened.json()["email_verified"] is True
    assert client.get("/api/me").json()["display_name"] == "Zoé"
    again = client.post("/api/auth/signup/confirm", json={"token": token})
    assert again.status_code == 400 and again.json()["error"]["code"] == "token_used"
    assert len(_users(email)) == 1
    # Signing up again now tells the owner instead.
    assert _ask(client, email).status_code == 202
    assert _messages(client, email)[0]["subject"] == "Vous avez déjà un compte — Effigies Edification"


def test_nobody_can_pre_register_an_address_with_a_password_of_their_own(client, stack):
    """The attacker signs up the victim's address first. No account exists until a link is opened,
    and the victim's own link makes the account with the victim's password; the attacker's dies."""
    victim = _address()
    with ApiClient(base_url=stack.url, timeout=30) as attacker:
        assert _ask(attacker, victim, OTHER_PASSWORD).status_code == 202
        planted = signup_link(client, victim)  # in the victim's inbox: the attacker never sees it
        assert _users(victim) == []
        assert attacker.post("/api/auth/login", json={"email": victim, "password": OTHER_PASSWORD}).status_code == 401
        assert sign_up(client, victim, PASSWORD, "Victime").status_code == 200
        dead = attacker.post("/api/auth/signup/confirm", json={"token": planted})
        assert dead.status_code == 400 and dead.json()["error"]["code"] == "token_used"
        assert attacker.post("/api/auth/login", json={"email": victim, "password": OTHER_PASSWORD}).status_code == 401
    assert client.post("/api/auth/login", json={"email": victim, "password": PASSWORD}).status_code == 200


def test_two_links_of_one_address_opened_together_make_one_account(stack):
    import concurrent.futures

    email = _address()
    with ApiClient(base_url=stack.url, timeout=30) as first, ApiClient(base_url=stack.url, timeout=30) as second:
        tokens = []
        for c in (first, second):
            assert _ask(c, email).status_code == 202
            tokens.append(signup_link(c, email))
        assert tokens[0] != tokens[1]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda ct: ct[0].post("/api/auth/signup/confirm", json={"token": ct[1]}),
                                    zip((first, second), tokens)))
    codes = sorted(a.status_code for a in answers)
    assert codes in ([200, 400], [200, 409]), [a.text for a in answers]
    loser = next(a for a in answers if a.status_code != 200)
    assert loser.json()["error"]["code"] in ("token_used", "account_exists")
    assert len(_users(email)) == 1


def test_expired_unknown_and_malformed_links_are_refused_and_create_nothing(client):
    from sqlalchemy import update

    from effigies.accounts.models import SignupRequest
    from effigies.db import session_scope

    email = _address()
    assert _ask(client, email).status_code == 202
    token = signup_link(client, email)
    with session_scope() as session:
        session.execute(update(SignupRequest)
                        .where(SignupRequest.token_hash == hashlib.sha256(token.encode()).hexdigest())
                        .values(expires_at=SignupRequest.expires_at - timedelta(days=3)))
    expired = client.post("/api/auth/signup/confirm", json={"token": token})
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "token_expired"
    unknown = client.post("/api/auth/signup/confirm", json={"token": "A" * 43})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_token"
    for bad in ("short", "x" * 101, "not a token at all!!!!!!!!!!"):
        assert client.post("/api/auth/signup/confirm", json={"token": bad}).status_code == 422
    # A verification or reset link is no sign-up link, nor the other way round.
    verify = client.post("/api/auth/email/verify", json={"token": token})
    assert verify.status_code == 400 and verify.json()["error"]["code"] == "invalid_token"
    assert _users(email) == [] and client.get("/api/me").status_code == 401


def test_the_link_leads_back_to_the_page_the_person_came_from(client):
    email = _address()
    assert _ask(client, email, next="/themes/galactic-droids").status_code == 202
    text = _messages(client, email)[0]["text"]
    assert SIGNUP_LINK.search(text) and "&next=%2Fthemes%2Fgalactic-droids" in text
    for bad in ("https://evil.example/", "//evil.example", "/themes/<x>"):
        refused = _ask(client, _address(), next=bad)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request", refused.text


def test_a_weak_password_is_refused_the_same_for_a_known_and_an_unknown_address(client, stack):
    known = _address()
    assert sign_up(client, known, PASSWORD, "Ada").status_code == 200
    with ApiClient(base_url=stack.url, timeout=30) as stranger:
        answers = [_ask(stranger, address, "aaaaaaaaaaaa") for address in (known, _address())]
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].json() == answers[1].json()
