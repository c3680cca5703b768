"""Log-in throttling on a second API process (same database and Redis) whose budgets are tiny
and whose window is a few seconds, so a window can really pass during the test."""
import itertools
import time
import uuid

import pytest

from tests.conftest import ApiClient, _spawn, _stop, free_port, wait_http

PASSWORD = "correct-horse-battery"
PER_ACCOUNT, PER_IP, WINDOW_S = 3, 5, 5


@pytest.fixture(scope="module")
def strict_url(stack):
    port = free_port()
    env = {
        **stack.env, "EE_PORT": str(port), "EE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "EE_LOGIN_FAILURES_PER_ACCOUNT": str(PER_ACCOUNT), "EE_LOGIN_FAILURES_PER_IP": str(PER_IP),
        "EE_LOGIN_FAILURE_WINDOW_S": str(WINDOW_S),
    }
    api = _spawn(["api"], env, stack.data_dir / "logs" / "api-strict-throttle.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/api/health", 90, api)
        yield url
    finally:
        _stop(api)


def _from(url: str, **kwargs) -> ApiClient:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 (a reverse proxy's place): each test
    # speaks from addresses of its own, so budgets never leak between tests.
    return ApiClient(base_url=url, timeout=30, **kwargs)


_hosts = itertools.count(1)


def _address() -> str:
    return f"198.51.100.{next(_hosts)}"


def _login(client: ApiClient, email: str, password: str, ip: str):
    return client.post("/api/auth/login", json={"email": email, "password": password}, headers={"X-Forwarded-For": ip})


def _assert_429(response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_S
    return retry_after


def test_failures_on_one_account_pause_it_for_one_window_only(make_user, strict_url):
    victim, _ = make_user()
    email = victim.get("/api/me").json()["email"]
    attacker_ip, victim_ip = _address(), _address()
    with _from(strict_url) as attacker, _from(strict_url) as browser:
        for _ in range(PER_ACCOUNT):
            assert _login(attacker, email, "guess-guess-guess", attacker_ip).status_code == 401
        _assert_429(_login(attacker, email, "guess-guess-guess", attacker_ip))
        # Within the window even the right password waits (else guessing would go on)…
        retry_after = _assert_429(_login(browser, email, PASSWORD, victim_ip))
        # …but no longer than the window: the oldest failure leaves it and the owner gets in.
        time.sleep(retry_after + 0.2)
        assert _login(browser, email, PASSWORD, victim_ip).status_code == 200


def test_successful_log_ins_do_not_count(make_user, strict_url):
    user, _ = make_user()
    email = user.get("/api/me").json()["email"]
    ip = _address()
    with _from(strict_url) as browser:
        for _ in range(PER_ACCOUNT + 2):
            assert _login(browser, email, PASSWORD, ip).status_code == 200
        # A success wipes the account's failures: the owner's own typos never add up to a pause.
        for _ in range(PER_ACCOUNT - 1):
            assert _login(browser, email, "typo-typo-typo", ip).status_code == 401
        assert _login(browser, email, PASSWORD, ip).status_code == 200
        for _ in range(PER_ACCOUNT - 1):
            assert _login(browser, email, "typo-typo-typo", ip).status_code == 401
        assert _login(browser, email, PASSWORD, ip).status_code == 200


def test_failures_from_one_address_pause_that_address_only(make_user, strict_url):
    user, _ = make_user()
    email = user.get("/api/me").json()["email"]
    sprayer_ip = _address()
    with _from(strict_url) as sprayer, _from(strict_url) as browser:
        # One guess each on many accounts (known or not) stays under every per-account budget.
        for _ in range(PER_IP):
            stranger = f"nobody-{uuid.uuid4().hex[:8]}@players.effigies.fr"
            assert _login(sprayer, stranger, "guess-guess-guess", sprayer_ip).status_code == 401
        _assert_429(_login(sprayer, email, PASSWORD, sprayer_ip))
        assert _login(browser, email, PASSWORD, _address()).status_code == 200


def test_a_stolen_session_cannot_guess_the_password_either(make_user, strict_url):
    user, _ = make_user()
    ip = _address()
    with _from(strict_url, cookies={"ee_session": user.cookies["ee_session"]}) as thief:
        body = {"current_password": "guess-guess-guess", "new_password": "taken-over-account"}
        for _ in range(PER_ACCOUNT):
            assert thief.post("/api/me/password", json=body, headers={"X-Forwarded-For": ip}).status_code == 400
        delete = thief.post("/api/me/delete", json={"password": "guess-guess-guess"}, headers={"X-Forwarded-For": ip})
        _assert_429(delete)
