"""E-mail verification, password reset and change of address, through the real SMTP sink.

Every message is read from what the stack's SMTP server received (GET /api/mail/outbox lists
its files). Time passes by moving a token's deadline in the database."""
from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta


from tests.conftest import ApiClient, sign_up, within_one_window

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "staple-battery-horse-42"
LINK = re.compile(r"https?://\S+/#/(email/verify|password/reset)\?token=([A-Za-z0-9_-]+)")


def _address() -> str:
    return f"mail-{uuid.uuid4().hex[:10]}@players.effigies.fr"


def _messages(client: ApiClient, to: str) -> list[dict]:
    response = client.get("/api/mail/outbox", params={"to": to})
    assert response.status_code == 200, response.text
    return response.json()["messages"]  # newest first


def _token(message: dict, kind: str) -> str:
    found = [m.group(2) for m in LINK.finditer(message["text"]) if m.group(1) == kind]
    assert len(found) == 1, message["text"]
    return found[0]


def _sign_up(client: ApiClient, email: str, *, locale: str = "fr") -> dict:
    """An account made by the sign-up link (its address verified by it), `client` logged in."""
    response = sign_up(client, email, PASSWORD, "Mél", locale=locale)
    assert response.status_code == 200, response.text
    return response.json()


def _unverified(client: ApiClient, email: str, *, locale: str = "fr") -> None:
    """An account whose address is not verified (one made before sign-up went by link, or whose
    address changed back), `client` logged in, and the verification e-mail it asks for sent."""
    from effigies.accounts import service
    from effigies.db import session_scope

    with session_scope() as session:
        service.signup(session=session, email=email, password=PASSWORD, display_name="Mél").locale = locale
    assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    assert client.post("/api/me/email/verification", json={}).status_code == 202


def _expire(token: str) -> None:
    from sqlalchemy import update

    from effigies.accounts.models import AccountToken
    from effigies.db import session_scope

    with session_scope() as session:
        done = session.execute(update(AccountToken)
                               .where(AccountToken.token_hash == hashlib.sha256(token.encode()).hexdigest())
                               .values(expires_at=AccountToken.expires_at - timedelta(days=3)))
        assert done.rowcount == 1


def _user(email: str):
    from sqlalchemy import select

    from effigies.accounts.models import User
    from effigies.db import session_scope

    with session_scope() as session:
        return session.scalar(select(User).where(User.email == email))


def test_a_verification_link_in_the_accounts_language_confirms_the_address_once(client, stack):
    email = _address()
    _unverified(client, email, locale="en")
    assert client.get("/api/me").json()["email_verified"] is False
    [message] = _messages(client, email)
    assert message["subject"] == "Confirm your e-mail address — Effigies Edification"
    assert message["text"].startswith("Hello Mél,")
    token = _token(message, "email/verify")
    assert _user(email).email_verified_at is None

    with ApiClient(base_url=stack.url, timeout=30) as other_device:  # not logged in
        confirmed = other_device.post("/api/auth/email/verify", json={"token": token})
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json() == {"email": email, "email_verified": True}
        again = other_device.post("/api/auth/email/verify", json={"token": token})
    assert again.status_code == 400 and again.json()["error"]["code"] == "token_used"
    assert client.get("/api/me").json()["email_verified"] is True
    # Confirmed: nothing more to send.
    resend = client.post("/api/me/email/verification", json={})
    assert resend.status_code == 409 and resend.json()["error"]["code"] == "already_verified"


def test_expired_malformed_and_foreign_links_are_refused_and_change_nothing(client):
    email = _address()
    _unverified(client, email)
    token = _token(_messages(client, email)[0], "email/verify")
    _expire(token)
    expired = client.post("/api/auth/email/verify", json={"token": token})
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "token_expired"
    assert _user(email).email_verified_at is None

    for bad in ("short", "x" * 101, "not a token at all!!!!!!!!!!"):
        malformed = client.post("/api/auth/email/verify", json={"token": bad})
        assert malformed.status_code == 422, malformed.text
    unknown = client.post("/api/auth/email/verify", json={"token": "A" * 43})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_token"

    # A verification link is no reset link: the password stays as it was.
    fresh = client.post("/api/me/email/verification", json={})
    assert fresh.status_code == 202, fresh.text
    other = _token(_messages(client, email)[0], "email/verify")
    foreign = client.post("/api/auth/password/reset", json={"token": other, "new_password": NEW_PASSWORD})
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "invalid_token"
    assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    # ...and the verification link still works where it belongs.
    assert client.post("/api/auth/email/verify", json={"token": other}).status_code == 200


def test_a_password_reset_ends_every_session_kills_other_links_and_tells_the_owner(client, stack):
    email = _address()
    _sign_up(client, email)
    with ApiClient(base_url=stack.url, timeout=30) as phone:
        assert phone.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
        assert phone.get("/api/me").status_code == 200
        with ApiClient(base_url=stack.url, timeout=30) as visitor:
            for _ in range(2):
                asked = visitor.post("/api/auth/password/forgot", json={"email": email.upper()})
                assert asked.status_code == 202 and asked.json() == {"status": "sent"}
        first, second = [_token(m, "password/reset") for m in _messages(client, email)[:2]][::-1]

        done = client.post("/api/auth/password/reset", json={"token": second, "new_password": NEW_PASSWORD})
        assert done.status_code == 204, done.text
        assert phone.get("/api/me").status_code == 401, "a session outlived the reset"
        assert client.get("/api/me").status_code == 401
    for token in (first, second):  # the older link died with the reset; the used one too
        reused = client.post("/api/auth/password/reset", json={"token": token, "new_password": "another-one-123"})
        assert reused.status_code == 400 and reused.json()["error"]["code"] == "token_used"
    assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401
    assert client.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD}).status_code == 200
    notice = _messages(client, email)[0]
    assert notice["subject"] == "Votre mot de passe a été changé — Effigies Edification"
    assert client.get("/api/me").json()["email_verified"] is True  # the reset link reached the address


def test_an_expired_reset_link_is_refused(client):
    email = _address()
    _sign_up(client, email)
    assert client.post("/api/auth/password/forgot", json={"email": email}).status_code == 202
    token = _token(_messages(client, email)[0], "password/reset")
    _expire(token)
    expired = client.post("/api/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "token_expired"
    assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200


def test_forgot_password_answers_the_same_whether_or_not_the_address_has_an_account(client, stack):
    known, unknown = _address(), _address()
    _sign_up(client, known)
    with ApiClient(base_url=stack.url, timeout=30) as visitor:
        answers = [visitor.post("/api/auth/password/forgot", json={"email": e, "locale": "en"}) for e in (known, unknown)]
    assert [(a.status_code, a.json()) for a in answers] == [(202, {"status": "sent"})] * 2
    # Each address got one e-mail: a link for the account, a "no account here" note for the other.
    assert _messages(client, known)[0]["subject"] == "Réinitialisez votre mot de passe — Effigies Edification"
    [note] = _messages(client, unknown)
    assert note["subject"] == "Password reset request — Effigies Edification"
    assert "token=" not in note["text"] and _user(unknown) is None




def test_mails_to_one_address_and_one_account_are_rate_limited(client, make_user, stack):
    def per_address():
        email = _address()
        with ApiClient(base_url=stack.url, timeout=30) as visitor:
            codes = [visitor.post("/api/auth/password/forgot", json={"email": email}).status_code for _ in range(4)]
        assert codes == [202, 202, 202, 429]
        assert len(_messages(client, email)) == 3

    def per_account():
        email = _address()
        with ApiClient(base_url=stack.url, timeout=30) as person:
            _unverified(person, email)  # its first verification e-mail sent
            codes = [person.post("/api/me/email/verification", json={}).status_code for _ in range(3)]
            assert codes == [202, 202, 429]
            assert "Retry-After" in person.post("/api/me/email/verification", json={}).headers
        assert len(_messages(client, email)) == 3

    within_one_window(per_address)
    within_one_window(per_account)


def test_a_change_to_an_address_with_an_account_answers_the_same_and_tells_that_address(client, stack):
    mine, theirs, free = _address(), _address(), _address()
    with ApiClient(base_url=stack.url, timeout=30) as other:
        _sign_up(other, theirs)
    _sign_up(client, mine)
    answers = [client.post("/api/me/email", json={"new_email": to, "password": PASSWORD}) for to in (theirs, free)]
    assert [(a.status_code, a.json()) for a in answers] == [(202, {"status": "sent"})] * 2
    notice = _messages(client, theirs)[0]
    assert notice["subject"] == "Demande de changement d'adresse — Effigies Edification"
    assert "token=" not in notice["text"]
    assert "token=" in _messages(client, free)[0]["text"]  # a free address gets its link
    assert client.get("/api/me").json()["email"] == mine and _user(theirs) is not None


def test_a_change_of_address_waits_for_the_new_addresss_link(client, stack):
    old, new = _address(), _address()
    _sign_up(client, old)
    wrong = client.post("/api/me/email", json={"new_email": new, "password": "not-my-password"})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_password"
    asked = client.post("/api/me/email", json={"new_email": new, "password": PASSWORD})
    assert asked.status_code == 202, asked.text
    assert client.get("/api/me").json()["email"] == old  # not yet
    assert _messages(client, old)[0]["subject"].startswith("Changement d'adresse demandé")
    [link] = _messages(client, new)
    token = _token(link, "email/verify")

    confirmed = client.post("/api/auth/email/verify", json={"token": token})
    assert confirmed.status_code == 200 and confirmed.json() == {"email": new, "email_verified": True}
    assert client.get("/api/me").json()["email"] == new
    assert client.post("/api/auth/login", json={"email": new, "password": PASSWORD}).status_code == 200
    assert client.post("/api/auth/login", json={"email": old, "password": PASSWORD}).status_code == 401
    taken = client.post("/api/me/email", json={"new_email": new, "password": PASSWORD})
    assert taken.status_code == 400 and taken.json()["error"]["code"] == "same_email"


def test_without_a_mail_server_the_action_answers_503_and_nothing_is_half_done(client, stack):
    email, known = _address(), _address()
    _sign_up(client, known)
    stack.smtp.stop()
    try:
        with ApiClient(base_url=stack.url, timeout=30) as visitor:
            signup = visitor.post("/api/auth/signup", json={"email": email, "password": PASSWORD, "display_name": "X"})
            forgot = visitor.post("/api/auth/password/forgot", json={"email": known})
        changed = client.post("/api/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    finally:
        stack.smtp.start()  # the same port: the API finds it again
    for response in (signup, forgot, changed):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "mail_unavailable" and "Retry-After" in response.headers
    assert _user(email) is None, "an account was created without its verification e-mail"
    assert client.post("/api/auth/login", json={"email": known, "password": PASSWORD}).status_code == 200
    from sqlalchemy import func, select

    from effigies.accounts.models import AccountToken, SignupRequest
    from effigies.db import session_scope

    with session_scope() as session:
        resets = session.scalar(select(func.count()).select_from(AccountToken)
                                .where(AccountToken.user_id == _user(known).id, AccountToken.purpose == "reset_password"))
        waiting = session.scalar(select(func.count()).select_from(SignupRequest).where(SignupRequest.email == email))
    assert resets == 0 and waiting == 0, "a sign-up was kept without its e-mail"
    # Mail is back: the same requests go through.
    assert client.post("/api/auth/password/forgot", json={"email": known}).status_code == 202
