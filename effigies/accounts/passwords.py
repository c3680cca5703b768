"""How strong a new password must be: zxcvbn's estimate of the guesses it takes (Dropbox's
estimator, the Python port of zxcvbn 4.4.2), not composition rules (NIST 800-63B: length and
blocklists, no "one digit and one capital").

- At least 10 characters (the schemas), and zxcvbn score 3 or more: about 10^8 guesses, "safely
  unguessable" against an online attack and slowed enough by argon2id offline. It knows common
  passwords, names, dictionary words, keyboard walks, dates, repeats and l33t substitutions.
- Not the person's own e-mail address, its local part or display name (and these are given to
  zxcvbn as words an attacker knows, so "ada.lovelace-2026" is weak for Ada Lovelace).
- zxcvbn reads at most the first 72 characters (its own limit: its matching grows fast with
  length); a 72-character password is strong enough whatever follows.
"""
from __future__ import annotations

from dataclasses import dataclass

from zxcvbn import zxcvbn

MIN_SCORE = 3
MAX_ESTIMATED = 72


@dataclass(frozen=True)
class Verdict:
    score: int  # zxcvbn 0-4
    code: str | None  # None when acceptable, else password_personal or password_weak

    @property
    def ok(self) -> bool:
        return self.code is None


def _folded(text: str) -> str:
    return "".join(text.casefold().split())


def judge(password: str, *, email: str | None = None, display_name: str | None = None) -> Verdict:
    if not password:  # zxcvbn itself fails on an empty string
        return Verdict(0, "password_weak")
    personal = [v for v in (email, email.split("@")[0] if email and "@" in email else None, display_name) if v]
    result = zxcvbn(password[:MAX_ESTIMATED], user_inputs=personal, max_length=MAX_ESTIMATED)
    score = int(result["score"])
    if _folded(password) in {_folded(v) for v in personal}:
        return Verdict(0, "password_personal")
    return Verdict(score, None if score >= MIN_SCORE else "password_weak")
