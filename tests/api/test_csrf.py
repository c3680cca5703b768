"""CSRF tokens bound to the session (effigies.api.csrf) and the Origin check against the public URL.

The 2026-12 hostile test passed with a cookie and a header of its own choosing (`csrftoken=A`,
`X-CSRF-Token: A`), and with a foreign Origin whenever the Host header said the same."""
from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from effigies.api import csrf, security
from tests.conftest import ApiClient, csrf_token
from tests.hostile.conftest import PASSWORD, fresh_ip, make_account

GENERATE = "/api/themes/galactic-droids/generations"


def _post(base_url: str, path: str, *, session: str | None, token: str, **kwargs) -> httpx.Response:
    cookies = {"csrftoken": token, **({"ee_session": session} if session else {})}
    with httpx.Client(base_url=base_url, timeout=30, cookies=cookies) as c:
        return c.post(path, headers={"X-CSRF-Token": token, **kwargs.pop("headers", {})}, **kwargs)


def _refused(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"


def test_a_token_of_the_attackers_choosing_is_refused(stack, make_user):
    user, _ = make_user()
    session = user.cookies["ee_session"]
    for made_up in ("A", "x" * 40, "nonce.mac", "a" * 24 + "." + "b" * 32):
        assert _refused(_post(stack.url, GENERATE, session=session, token=made_up, json={"count": 1}))
        assert _refused(_post(stack.url, "/api/auth/login", session=None, token=made_up,
                              json={"email": "a@players.effigies.fr", "password": PASSWORD}))
    # The server's own token for this session passes (the same request, nothing else changed).
    ok = _post(stack.url, GENERATE, session=session, token=csrf_token(stack.url, session), json={"count": 1})
    assert ok.status_code == 202, ok.text


def test_a_token_works_only_with_the_session_it_was_issued_for(stack, make_user):
    alice, _ = make_user()
    bob, _ = make_user()
    alices = csrf_token(stack.url, alice.cookies["ee_session"])
    # Bob's session with Alice's token (planted in Bob's browser, say), and an anonymous one with it.
    assert _refused(_post(stack.url, GENERATE, session=bob.cookies["ee_session"], token=alices, json={"count": 1}))
    anonymous = csrf_token(stack.url)
    assert _refused(_post(stack.url, GENERATE, session=alice.cookies["ee_session"], token=anonymous, json={"count": 1}))
    # A read with a token that is not this session's hands out one that is.
    with httpx.Client(base_url=stack.url, timeout=30,
                      cookies={"ee_session": bob.cookies["ee_session"], "csrftoken": alices}) as c:
        fresh = c.get("/api/me").cookies.get("csrftoken")
    assert fresh and fresh != alices and csrf.valid(fresh, bob.cookies["ee_session"])


def test_log_in_rotates_the_token_and_log_out_ends_it(stack):
    account = make_account(stack)
    with ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()}) as c:
        before = c.get("/api/config").cookies["csrftoken"]  # a visitor's token, as a page load hands it out
        login = c.post("/api/auth/login", json={"email": account.email, "password": PASSWORD},
                       headers={"X-CSRF-Token": before})
        assert login.status_code == 200, login.text
        session, during = c.cookies["ee_session"], login.cookies["csrftoken"]
        assert during != before
        # The visitor's token (which someone may have planted before the log-in) is no use now.
        assert _refused(_post(stack.url, GENERATE, session=session, token=before, json={"count": 1}))
        logout = c.post("/api/auth/logout", headers={"X-CSRF-Token": during})
        assert logout.status_code == 204
        after = logout.cookies["csrftoken"]
    assert after not in (before, during) and csrf.valid(after, None)


def test_origin_is_checked_against_the_public_url_not_the_host_header(stack, make_user):
    user, _ = make_user()
    session = user.cookies["ee_session"]
    token = csrf_token(stack.url, session)
    # A foreign page whose request also carries a Host naming it: refused (the stack is not local mode).
    forged = _post(stack.url, GENERATE, session=session, token=token, json={"count": 1},
                   headers={"Origin": "https://evil.example", "Host": "evil.example"})
    assert _refused(forged)
    same = _post(stack.url, GENERATE, session=session, token=token, json={"count": 1}, headers={"Origin": stack.url})
    assert same.status_code == 202, same.text


@pytest.mark.parametrize("env, allowed", [("local", True), ("test", False), ("production", False)])
def test_only_local_mode_trusts_the_host_header(monkeypatch, env, allowed):
    settings = SimpleNamespace(env=env, public_url="https://effigies.example")
    monkeypatch.setattr(security, "get_settings", lambda: settings)
    assert security._origin_allowed("https://effigies.example", "anything.example")
    assert not security._origin_allowed("http://effigies.example", None)  # another scheme is another origin
    assert security._origin_allowed("http://localhost:8000", "localhost:8000") is allowed
