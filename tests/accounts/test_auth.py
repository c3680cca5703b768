import uuid

from tests.conftest import sign_up


def _email() -> str:
    return f"new-{uuid.uuid4().hex[:8]}@Players.Effigies.Fr"


def test_the_signup_link_sets_httponly_samesite_session_and_logs_in(client):
    email = _email()
    response = sign_up(client, email, "long enough pw", "Ada")
    assert response.status_code == 200, response.text
    assert response.json()["email"] == email.lower()
    assert response.json()["email_verified"] is True  # the link reached the address
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("ee_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/api/me").json()["display_name"] == "Ada"

    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/me").status_code == 401

    login = client.post("/api/auth/login", json={"email": email, "password": "long enough pw"})
    assert login.status_code == 200
    assert client.get("/api/me").status_code == 200


def test_passwords_are_stored_with_argon2id(client, stack):
    from sqlalchemy import select

    from effigies.accounts.models import User
    from effigies.db import session_scope

    email = _email()
    sign_up(client, email, "long enough pw", "Bo")
    with session_scope() as session:
        stored = session.scalar(select(User.password_hash).where(User.email == email.lower()))
    assert stored.startswith("$argon2id$")
    assert "m=19456,t=2" in stored


def test_a_wrong_password_is_a_clear_error(client):
    email = _email()
    sign_up(client, email, "long enough pw", "Cy")
    wrong = client.post("/api/auth/login", json={"email": email, "password": "not the password"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"


def test_bad_input_is_a_422_with_the_field(client):
    response = client.post("/api/auth/signup", json={"email": "not-an-email", "password": "short", "display_name": ""})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert {d["field"] for d in error["details"]} >= {"email", "password"}


def test_state_change_without_csrf_token_is_refused(make_user):
    user, _ = make_user()
    response = user.post("/api/themes/galactic-droids/generations", json={"count": 1}, headers={"X-CSRF-Token": "forged"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_cross_site_origin_is_refused_even_with_token(make_user):
    user, _ = make_user()
    response = user.post(
        "/api/themes/galactic-droids/generations", json={"count": 1}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403


def test_admin_routes_deny_users_and_anonymous(client, make_user):
    user, user_id = make_user()
    body = {"amount_cents": 100, "reason": "goodwill"}
    assert client.post(f"/api/admin/wallets/{user_id}/adjustments", json=body).status_code == 401
    assert user.post(f"/api/admin/wallets/{user_id}/adjustments", json=body).status_code == 403
    admin, _ = make_user(role="admin")
    response = admin.post(f"/api/admin/wallets/{user_id}/adjustments", json=body)
    assert response.status_code == 201
    assert user.get("/api/wallet").json()["balance_cents"] == 100


def test_argon2id_parameters_meet_owasp_minimums():
    from argon2 import Type, extract_parameters

    from effigies.accounts import service

    params = extract_parameters(service.hash_password("long enough pw"))
    assert params.type is Type.ID
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2 and params.parallelism >= 1


def test_an_old_hash_is_upgraded_at_log_in(client):
    from argon2 import PasswordHasher, extract_parameters
    from sqlalchemy import select, update

    from effigies.accounts import service
    from effigies.accounts.models import User
    from effigies.db import session_scope

    email = _email().lower()
    sign_up(client, email, "long enough pw", "Di")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("long enough pw")
    with session_scope() as session:
        session.execute(update(User).where(User.email == email).values(password_hash=weak))

    assert client.post("/api/auth/login", json={"email": email, "password": "long enough pw"}).status_code == 200
    with session_scope() as session:
        stored = session.scalar(select(User.password_hash).where(User.email == email))
    assert stored != weak
    assert extract_parameters(stored) == extract_parameters(service.hash_password("x"))
