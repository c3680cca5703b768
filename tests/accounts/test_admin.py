import re
import subprocess
import sys
import uuid

import pytest


def test_the_configured_admin_exists_after_start_up(client, stack):
    response = client.post(
        "/api/auth/login", json={"email": stack.env["EE_ADMIN_EMAIL"], "password": stack.env["EE_ADMIN_PASSWORD"]}
    )
    assert response.status_code == 200
    assert client.get("/api/me").json()["role"] == "admin"


def test_admin_create_command_makes_an_admin_who_can_log_in(client, stack):
    env = {**stack.env, "EE_ADMIN_PASSWORD": "another-admin-pw-42"}
    done = subprocess.run(
        [sys.executable, "-m", "effigies.cli", "admin", "create", "--email", "ops@example.com"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    login = client.post("/api/auth/login", json={"email": "ops@example.com", "password": "another-admin-pw-42"})
    assert login.status_code == 200 and login.json()["role"] == "admin"


def test_admin_create_refuses_a_short_password(stack):
    env = {**stack.env, "EE_ADMIN_PASSWORD": "short"}
    done = subprocess.run(
        [sys.executable, "-m", "effigies.cli", "admin", "create", "--email", "weak@example.com"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "10 characters" in done.stderr


def test_admin_create_refuses_an_address_the_log_in_form_would_refuse(stack):
    env = {**stack.env, "EE_ADMIN_PASSWORD": "another-admin-pw-42"}
    for address in ("ops@effigies.test", "not-an-address"):
        done = subprocess.run(
            [sys.executable, "-m", "effigies.cli", "admin", "create", "--email", address],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert f"error: {address!r} is not an e-mail address the log-in form accepts" in done.stderr


def test_admin_create_without_a_database_nor_a_running_up_says_how_to_get_one(tmp_path, stack):
    env = {k: v for k, v in stack.env.items() if k != "DATABASE_URL"}
    env.update({"EE_ENV": "local", "EE_DATA_DIR": str(tmp_path), "EE_ADMIN_PASSWORD": "another-admin-pw-42"})
    done = subprocess.run(
        [sys.executable, "-m", "effigies.cli", "admin", "create", "--email", "ops@example.com"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: no database: start `effigies up` (data dir {tmp_path}) in another "
                                   "terminal, or set DATABASE_URL")


def _admin_routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves under /api/admin, read from the app itself, so a
    route added later is tested without anyone listing it here."""
    from fastapi.routing import iter_route_contexts

    from effigies.api.app import create_app

    # app.routes keeps each included router as one unexpanded entry; this walks into them.
    return sorted(
        (method, route.path)
        for route in iter_route_contexts(create_app().routes)
        if (route.path or "").startswith("/api/admin")
        for method in getattr(route, "methods", None) or ()
    )


ADMIN_ROUTES = _admin_routes()


def test_there_are_admin_routes_to_check():
    assert ADMIN_ROUTES


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p in ADMIN_ROUTES])
def test_every_admin_route_refuses_anonymous_and_plain_users(method, path, client, make_user):
    # Any value fits each path parameter: the gate must answer before parameters are looked at.
    url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
    anonymous = client.request(method, url)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    user, _ = make_user()
    plain = user.request(method, url)
    assert plain.status_code == 403, plain.text
    assert plain.json()["error"]["code"] == "forbidden"
