"""Known devices: the log-in brake that an attacker cannot pull on the owner.

Failed passwords are counted per account (effigies.accounts.throttle), so ten wrong guesses from
ten addresses used to lock the account's owner out for a whole window too. A browser that has
logged in to an account keeps a signed `ee_device` cookie naming it (signed for the
normalised address, effigies.signing; nothing stored server-side). Log-ins that
carry one for the address they try count against a budget of that device alone: a stranger's
failures, which never carry one, cannot lock the owner's own devices, and a device's failures
lock only itself. From a new device the owner can still get in at once with a reset link, which
wipes the account's failures (effigies.accounts.service.reset_password). No captcha: it would
need a third party's script, which the CSP does not allow.
"""
from __future__ import annotations

from effigies import signing

COOKIE = "ee_device"
MAX_AGE_S = 400 * 86400  # the longest a browser keeps a cookie (RFC 6265bis)
PURPOSE = "ee-device/1"


def issue(email: str) -> str:
    """The cookie value of a device that has just logged in to the account of this (normalised) address."""
    return signing.issue(PURPOSE, email)


def known(cookie: str | None, email: str) -> str | None:
    """This device's id when `cookie` was issued for the account of this address, else None."""
    return signing.verify(PURPOSE, cookie, email)
