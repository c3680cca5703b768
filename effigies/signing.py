"""Tokens bound to a value by an HMAC under EE_SECRET_KEY, for cookies the server must recognise
without storing them: `nonce.mac`, the MAC over a purpose, the nonce and the bound value (the
session cookie of a CSRF token, the address of a known device). Another purpose, another value or
an edited nonce fails; nothing about the value can be read back from the token."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from effigies.config import get_settings

MAX_LENGTH = 200  # anything longer is not ours: refused without computing a MAC


def _mac(purpose: str, nonce: str, bound: str) -> str:
    key = get_settings().secret_key.get_secret_value().encode()
    message = b"\0".join((purpose.encode(), nonce.encode(), bound.encode()))
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()[:24]).decode().rstrip("=")


def issue(purpose: str, bound: str) -> str:
    nonce = secrets.token_urlsafe(12)
    return f"{nonce}.{_mac(purpose, nonce, bound)}"


def verify(purpose: str, token: str | None, bound: str) -> str | None:
    """The token's nonce when this server issued it for this purpose and value, else None."""
    if not token or len(token) > MAX_LENGTH or token.count(".") != 1:
        return None
    nonce, mac = token.split(".")
    return nonce if hmac.compare_digest(mac.encode(), _mac(purpose, nonce, bound).encode()) else None
