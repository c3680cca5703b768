from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CertificateFacts(BaseModel):
    """What a certificate states; its canonical JSON is what the signature covers."""

    # Strict and closed: a verifier must not quietly accept a field it cannot vouch for.
    model_config = ConfigDict(extra="forbid", strict=True)

    version: Literal[1]
    avatar_public_id: str = Field(pattern=r"^[A-Za-z0-9_-]{16}$")
    theme: str = Field(max_length=64)
    model_version: int
    # The 256-bit perceptual fingerprint the uniqueness registry holds for this avatar.
    phash: str = Field(pattern=r"^[0-9a-f]{64}$")
    image_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    owner: str | None = Field(max_length=80)
    purchased_at: str = Field(max_length=40)
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    algorithm: Literal["Ed25519"]


class CertificateIn(BaseModel):
    """A certificate file as downloaded. `certificate` stays raw: the signature is over its exact
    content, and re-serialising a parsed model could change it."""

    model_config = ConfigDict(extra="forbid")

    certificate: dict[str, Any]
    signature: str = Field(min_length=1, max_length=200)


class OwnershipOut(BaseModel):
    """What a signature cannot say: whether the avatar still belongs to the account it was sold to."""

    # "ended": that account was deleted, so the owner the certificate names owns nothing now and
    # the avatar has no owner. The signature stays genuine all the same.
    status: Literal["current", "ended"]
    # When it ended; null while owned, or for an account deleted before the date was recorded.
    ended_at: datetime | None = None


class VerificationOut(BaseModel):
    genuine: bool
    # A malformed certificate is a 422, not an answer.
    reason: Literal["ok", "unknown_key", "bad_signature"]
    message: str
    key_id: str | None = None
    key_status: Literal["current", "retired"] | None = None
    certificate: CertificateFacts | None = None
    image_url: str | None = None
    # Genuine certificates of an avatar sold here only.
    ownership: OwnershipOut | None = None


class PublicKeyOut(BaseModel):
    id: str
    algorithm: Literal["Ed25519"]
    status: Literal["current", "retired"]
    # Base64 of the 32 raw bytes, and the same key as SubjectPublicKeyInfo PEM for OpenSSL users.
    public_key: str
    pem: str


class KeySetOut(BaseModel):
    keys: list[PublicKeyOut]
