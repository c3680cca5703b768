"""Server-side sessions: rotation at log-in, idle and absolute timeouts, cookie flags.
Time passes by moving the session's timestamps in the database."""
import hashlib
from datetime import timedelta

from fastapi import Response

from tests.conftest import ApiClient

PASSWORD = "correct-horse-battery"


def _row(token: str):
    from effigies.accounts.models import AuthSession
    from effigies.db import session_scope

    with session_scope() as session:
        return session.get(AuthSession, hashlib.sha256(token.encode()).hexdigest())


def _shift(token: str, **deltas: timedelta) -> None:
    """Move the session's timestamps into the past, as if that much time had gone by."""
    from sqlalchemy import update

    from effigies.accounts.models import AuthSession
    from effigies.db import session_scope

    row = _row(token)
    values = {name: getattr(row, name) - delta for name, delta in deltas.items()}
    with session_scope() as session:
        session.execute(update(AuthSession).where(AuthSession.token_hash == row.token_hash).values(**values))


def test_log_in_replaces_the_session_the_browser_already_had(make_user, stack):
    """Session fixation: a token planted in the browser before log-in must not become the login."""
    user, _ = make_user()
    email = user.get("/api/me").json()["email"]
    planted = user.cookies["ee_session"]
    with ApiClient(base_url=stack.url, timeout=30, cookies={"ee_session": planted}) as browser:
        response = browser.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200
        fresh = response.cookies["ee_session"]
    assert fresh != planted
    assert _row(planted) is None and _row(fresh) is not None
    assert user.get("/api/me").status_code == 401  # whoever held the planted token is out


def test_session_cookie_flags(monkeypatch):
    from effigies.accounts import router
    from effigies.config import Settings

    for public_url, secure in (("http://127.0.0.1:8000", False), ("https://effigies.example", True)):
        monkeypatch.setattr(router, "get_settings", lambda url=public_url: Settings(EE_PUBLIC_URL=url))
        response = Response()
        router.set_session_cookies(response, "token")
        session_cookie, csrf_cookie = response.headers.getlist("set-cookie")
        assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
        assert "HttpOnly" not in csrf_cookie  # our JavaScript echoes it in X-CSRF-Token
        assert ("Secure" in session_cookie) is secure and ("Secure" in csrf_cookie) is secure


def test_idle_sessions_end_and_used_ones_stay(make_user):
    from effigies.config import get_settings

    idle = timedelta(days=get_settings().session_idle_days)
    dozing, _ = make_user()
    _shift(dozing.cookies["ee_session"], last_seen_at=idle - timedelta(minutes=5))
    assert dozing.get("/api/me").status_code == 200
    # That request counted as use: the idle clock starts again.
    _shift(dozing.cookies["ee_session"], last_seen_at=timedelta(minutes=10))
    assert dozing.get("/api/me").status_code == 200

    gone, _ = make_user()
    _shift(gone.cookies["ee_session"], last_seen_at=idle + timedelta(minutes=1))
    assert gone.get("/api/me").status_code == 401


def test_last_seen_is_written_at_most_once_a_minute(make_user):
    user, _ = make_user()
    token = user.cookies["ee_session"]
    seen = _row(token).last_seen_at
    for _ in range(3):
        assert user.get("/api/me").status_code == 200
    assert _row(token).last_seen_at == seen

    _shift(token, last_seen_at=timedelta(minutes=2))
    assert user.get("/api/me").status_code == 200
    assert _row(token).last_seen_at > seen


def test_sessions_end_at_their_absolute_deadline_however_busy(make_user):
    from effigies.config import get_settings

    user, _ = make_user()
    token = user.cookies["ee_session"]
    row = _row(token)
    assert row.expires_at - row.created_at == timedelta(days=get_settings().session_max_age_days)
    _shift(token, last_seen_at=timedelta(minutes=2))
    user.get("/api/me")
    assert _row(token).expires_at == row.expires_at  # use never extends the deadline

    # Logged in max_age days and a minute ago, used moments ago: still too old.
    age = timedelta(days=get_settings().session_max_age_days, minutes=1)
    _shift(token, created_at=age, expires_at=age)
    assert user.get("/api/me").status_code == 401
