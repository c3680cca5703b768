"""CSRF tokens bound to the session they were issued for (OWASP's "signed double-submit cookie").

A token is signed (effigies.signing) for the session cookie it goes with (none before log-in).
The browser echoes the `csrftoken` cookie in X-CSRF-Token; effigies.api.security checks both are
equal *and* the signature: a plain double-submit accepted any cookie and header an attacker
managed to plant together (`csrftoken=A`, `X-CSRF-Token: A`), a bound one only what this server
issued for this very session. Log-in opens a new session and so a new token
(effigies.accounts.router.set_session_cookies); a token of an earlier session (or of none) is
replaced on the next read.
"""
from __future__ import annotations

from effigies import signing

COOKIE = "csrftoken"
PURPOSE = "ee-csrf/1"


def issue(session_token: str | None) -> str:
    """A fresh token for the holder of this session cookie (None: not logged in)."""
    return signing.issue(PURPOSE, session_token or "")


def valid(token: str, session_token: str | None) -> bool:
    """Whether `token` was issued by this server for this session cookie."""
    return signing.verify(PURPOSE, token, session_token or "") is not None
