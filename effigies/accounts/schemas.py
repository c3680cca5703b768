from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr, Field

from effigies import text


def _email_form(value: object) -> object:
    # Compatibility forms fold before validation: "Ａdmin@ex.fr" (fullwidth A) *is* admin@ex.fr,
    # one account, never two look-alikes (accounts.service.normalise_email does the same).
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


# Scripts a domain label may mix (Unicode TS #39, "highly restrictive"): Japanese, Chinese and
# Korean names mix Han with their own scripts and Latin; any other mix ("pаypal" with a Cyrillic
# а) is a look-alike of another address, refused.
_SCRIPT_MIXES = ({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}, {"LATIN", "HAN", "BOPOMOFO"}, {"LATIN", "HAN", "HANGUL"})


def _label_scripts(label: str) -> set[str]:
    from confusable_homoglyphs import categories

    if label.lower().startswith("xn--"):
        try:
            label = label.encode("ascii").decode("idna")
        except UnicodeError:
            raise ValueError("the domain name is not valid") from None
    return {categories.alias(ch) for ch in label} - {"COMMON", "INHERITED"}


def _single_script_domain(value: str) -> str:
    domain = value.rsplit("@", 1)[-1]
    for label in domain.split("."):
        scripts = _label_scripts(label)
        if len(scripts) > 1 and not any(scripts <= mix for mix in _SCRIPT_MIXES):
            raise ValueError(f"the domain name mixes scripts ({', '.join(sorted(s.title() for s in scripts))}), "
                             "as look-alikes of other addresses do")
    return value


Email = Annotated[EmailStr, BeforeValidator(_email_form), Field(max_length=254), AfterValidator(_single_script_domain)]
# What others read: NFC, no control or text-direction characters (effigies.text). The pattern
# tells clients so; the validator enforces it, with a message that names the problem.
DisplayName = Annotated[text.Line, Field(min_length=1, max_length=80)]


class SignupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    # 10+ characters (NIST 800-63B style: length, not composition rules); 128 bounds argon2 work.
    password: str = Field(min_length=10, max_length=128)
    display_name: DisplayName
    # The language the person signed up in: their e-mails' (default French).
    locale: Literal["fr", "en"] = "fr"
    # Where the e-mailed link leads once the account exists (an in-app path, e.g. the theme whose
    # proposal the visitor wanted to buy).
    next: str | None = Field(default=None, max_length=200, pattern=r"^/[A-Za-z0-9_\-/]*$")


class PasswordStrengthIn(BaseModel):
    """A password being typed, for the strength meter; with the e-mail and name typed beside it
    at sign-up (a logged-in person's own are used instead)."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=128)
    email: str | None = Field(None, max_length=320)
    display_name: str | None = Field(None, max_length=200)


class PasswordStrengthOut(BaseModel):
    score: int  # zxcvbn 0 (guessed at once) to 4 (very hard to guess)
    ok: bool  # what sign-up, a change and a reset would accept (10+ characters and score 3+)
    code: str | None  # why not: password_short, password_personal, password_weak


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: str = Field(min_length=1, max_length=128)


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=128)
    # Same rule as at sign-up.
    new_password: str = Field(min_length=10, max_length=128)


class AccountDeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=128)
    # The wallet's balance, as shown to the person, that they agree to give up (409 when it differs).
    # Strict: money is never guessed from "100" or 100.0.
    forfeit_cents: int = Field(0, strict=True, ge=0, le=10_000_000)


class MePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: Literal["fr", "en"] | None = None
    display_name: DisplayName | None = None


# What an e-mailed link carries (accounts.service: secrets.token_urlsafe(32), 43 characters).
LinkToken = Annotated[str, Field(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: LinkToken


class PasswordForgotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    locale: Literal["fr", "en"] = "fr"  # for the "no account here" answer; an account's own is used otherwise


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: LinkToken
    new_password: str = Field(min_length=10, max_length=128)  # same rule as at sign-up


class EmailChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_email: Email
    password: str = Field(min_length=1, max_length=128)


class MailSentOut(BaseModel):
    """The same answer whether or not the address has an account."""

    status: Literal["sent"] = "sent"


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: str
    locale: str
    email_verified: bool


class EmailVerifiedOut(BaseModel):
    email: str
    email_verified: bool


class SessionOut(BaseModel):
    user: UserOut | None


class AddressIn(BaseModel):
    """An extra address of the account's, for /avatar/{hash} (effigies.accounts.addresses)."""

    model_config = ConfigDict(extra="forbid")

    email: Email


class AddressOut(BaseModel):
    """One of the caller's extra addresses (only its owner, and admins on the support desk, see it)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    verified: bool
    created_at: datetime
    verified_at: datetime | None


class AddressVerifiedOut(BaseModel):
    email: str
    verified: bool
