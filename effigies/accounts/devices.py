"""Known devices: the log-in brake that an attacker cannot pull on the owner.

Failed passwords are counted per account (effigies.accounts.throttle), so ten wrong guesses from
ten addresses used to lock the account's owner out for a whole window too. A browser that has
logged in to an account keeps a signed `ee_device` cookie naming it (an HMAC under
EE_SECRET_KEY of the normalised address and a nonce; nothing stored server-side). Log-ins that
carry one for the address they try count against a budget of that device alone: a stranger's
failures, which never carry one, cannot lock the owner's own devices, and a device's failures
lock only itself. From a new device the owner can still get in at once with a reset link, which
wipes the account's failures (effigies.accounts.service.reset_password). No captcha: it would
need a third party's script, which the CSP does not allow.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from effigies.config import get_settings

COOKIE = "ee_device"
MAX_AGE_S = 400 * 86400  # the longest a browser keeps a cookie (RFC 6265bis)
MAX_LENGTH = 200
_CONTEXT = b"ee-device/1\0"


def _mac(nonce: str, email: str) -> str:
    key = get_settings().secret_key.get_secret_value().encode()
    digest = hmac.new(key, _CONTEXT + nonce.encode() + b"\0" + email.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def issue(email: str) -> str:
    """The cookie value of a device that has just logged in to the account of this (normalised) address."""
    nonce = secrets.token_urlsafe(12)
    return f"{nonce}.{_mac(nonce, email)}"


def known(cookie: str | None, email: str) -> str | None:
    """This device's id when `cookie` was issued for the account of this address, else None."""
    if not cookie or len(cookie) > MAX_LENGTH or cookie.count(".") != 1:
        return None
    nonce, mac = cookie.split(".")
    return nonce if hmac.compare_digest(mac.encode(), _mac(nonce, email).encode()) else None
