"""Change password and delete account, through the API on the real stack."""
import uuid

from tests.conftest import ApiClient, sign_up, wait_generation

PASSWORD = "correct-horse-battery"  # what the make_user fixture signs people up with


def _email(user: ApiClient) -> str:
    return user.get("/api/me").json()["email"]


def _login_status(stack, email: str, password: str) -> int:
    with ApiClient(base_url=stack.url, timeout=30) as other:
        return other.post("/api/auth/login", json={"email": email, "password": password}).status_code


def test_changing_the_password_ends_every_other_session(make_user, stack):
    user, _ = make_user()
    email = _email(user)
    with ApiClient(base_url=stack.url, timeout=30) as browser, ApiClient(base_url=stack.url, timeout=30) as laptop:
        for c in (browser, laptop):
            assert c.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
        old_token = browser.cookies["ee_session"]

        body = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
        response = browser.post("/api/me/password", json=body)
        assert response.status_code == 204, response.text
        assert browser.cookies["ee_session"] != old_token  # the caller stays logged in, on a new session
        assert browser.get("/api/me").status_code == 200
        assert laptop.get("/api/me").status_code == 401
        assert user.get("/api/me").status_code == 401
    with ApiClient(base_url=stack.url, cookies={"ee_session": old_token}) as stale:
        assert stale.get("/api/me").status_code == 401

    assert _login_status(stack, email, PASSWORD) == 401
    assert _login_status(stack, email, "a brand new passphrase") == 200


def test_changing_the_password_needs_the_current_one(make_user):
    user, _ = make_user()
    body = {"current_password": "not it at all", "new_password": "a brand new passphrase"}
    wrong = user.post("/api/me/password", json=body)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_password"
    short = user.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and short.json()["error"]["details"][0]["field"] == "new_password"
    assert user.get("/api/me").status_code == 200  # neither attempt touched the session


def test_anonymous_cannot_change_a_password_or_delete(client):
    body = {"current_password": "x", "new_password": "0123456789"}
    assert client.post("/api/me/password", json=body).status_code == 401
    assert client.post("/api/me/delete", json={"password": "x"}).status_code == 401


def test_deleting_the_account_keeps_its_avatars_sold_and_removes_the_person(make_user, client, stack):
    from sqlalchemy import func, select

    from effigies.accounts.models import AuthSession, User
    from effigies.avatars.models import Avatar
    from effigies.billing.ledger import wallet
    from effigies.db import session_scope
    from effigies.uniqueness.models import RegistryEntry

    user, user_id = make_user(balance_cents=100)
    email = _email(user)
    job = user.post("/api/themes/galactic-droids/generations", json={"count": 1}).json()
    candidate = wait_generation(user, job["id"])["candidates"][0]
    bought = user.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True})
    assert bought.status_code == 201, bought.text
    public_id = bought.json()["avatar"]["public_id"]
    image_before = client.get(f"/a/{public_id}.png", params={"s": 64})
    assert image_before.status_code == 200

    wrong = user.post("/api/me/delete", json={"password": "not my password"})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_password"
    # 90 cents are left: they are given up only when the person confirms that amount.
    for shown in (None, 0, 100):
        unconfirmed = user.post("/api/me/delete", json={"password": PASSWORD,
                                                        **({} if shown is None else {"forfeit_cents": shown})})
        assert unconfirmed.status_code == 409 and unconfirmed.json()["error"]["code"] == "balance_not_confirmed"
        assert "€0.90" in unconfirmed.json()["error"]["message"]
    assert user.get("/api/me").status_code == 200  # nothing happened
    response = user.post("/api/me/delete", json={"password": PASSWORD, "forfeit_cents": 90})
    assert response.status_code == 204, response.text
    assert user.get("/api/me").status_code == 401

    with session_scope() as session:
        person = session.get(User, user_id)
        assert person.deleted_at is not None
        assert email not in person.email and person.display_name != "Test"
        assert not person.password_hash.startswith("$argon2")
        assert session.scalar(select(func.count()).select_from(AuthSession).where(AuthSession.user_id == user_id)) == 0
        avatar = session.scalar(select(Avatar).where(Avatar.public_id == public_id))
        assert avatar.owner_id is None  # still sold, to nobody anyone can name
        entry = session.scalar(select(RegistryEntry).where(RegistryEntry.avatar_id == avatar.id))
        assert entry.kind == "sold"
        assert wallet(session=session, user_id=user_id).balance_cents == 90  # the books are untouched

    image_after = client.get(f"/a/{public_id}.png", params={"s": 64})
    assert image_after.status_code == 200 and image_after.content == image_before.content
    assert _login_status(stack, email, PASSWORD) == 401

    with ApiClient(base_url=stack.url, timeout=30) as again:
        fresh = sign_up(again, email, PASSWORD, "Again")
        assert fresh.status_code == 200, fresh.text
        assert uuid.UUID(fresh.json()["id"]) != user_id
        assert again.get("/api/me/avatars").json() == []
