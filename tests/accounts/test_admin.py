import subprocess
import sys


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
