"""CSRF tokens bound to the session they were issued for (OWASP's "signed double-submit cookie").

A token is `nonce.mac`, the MAC an HMAC-SHA256 under EE_SECRET_KEY of the nonce and of the
session cookie it goes with (none before log-in). The browser echoes the `csrftoken` cookie in
X-CSRF-Token (effigies.api.security checks both are equal *and* the MAC): a plain double-submit
accepted any cookie and header an attacker managed to plant together (`csrftoken=A`,
`X-CSRF-Token: A`), a bound one only what this server issued for this very session. Log-in opens
a new session and so a new token (effigies.accounts.router.set_session_cookies); a token of an
earlier session (or of none) is replaced on the next read.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from effigies.config import get_settings

COOKIE = "csrftoken"
MAX_LENGTH = 200  # anything longer is not ours: refused without computing a MAC
_CONTEXT = b"ee-csrf/1\0"


def _mac(nonce: str, session_token: str | None) -> str:
    key = get_settings().secret_key.get_secret_value().encode()
    message = _CONTEXT + nonce.encode() + b"\0" + (session_token or "").encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def issue(session_token: str | None) -> str:
    """A fresh token for the holder of this session cookie (None: not logged in)."""
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_mac(nonce, session_token)}"


def valid(token: str, session_token: str | None) -> bool:
    """Whether `token` was issued by this server for this session cookie."""
    if not token or len(token) > MAX_LENGTH or token.count(".") != 1:
        return False
    nonce, mac = token.split(".")
    return hmac.compare_digest(mac.encode(), _mac(nonce, session_token).encode())
