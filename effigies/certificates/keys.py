"""The Ed25519 keys of ownership certificates: the one that signs, and every one that still verifies."""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from effigies.config import get_settings

ALGORITHM = "Ed25519"


class InvalidKey(ValueError):
    """A key that cannot be read: the message says which and why."""


@dataclass(frozen=True)
class PublicKey:
    id: str
    key: Ed25519PublicKey
    # "current" signs new certificates; "retired" only verifies old ones; "given" was handed to `effigies verify`.
    status: str

    @property
    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short and stable, so a certificate can name the key that signed it across rotations."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _parse(text: str, kind: str, from_pem, from_raw, expected: type):
    """A key as PEM or as base64 of its 32 raw bytes; InvalidKey says what was wrong."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = from_pem(text.encode("ascii"))
        else:
            key = from_raw(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidKey(f"not an Ed25519 {kind} key (base64 of 32 bytes, or PEM): {exc}") from None
    if not isinstance(key, expected):
        raise InvalidKey("the PEM key is not an Ed25519 key")
    return key


def parse_private_key(text: str) -> Ed25519PrivateKey:
    return _parse(text, "private", lambda pem: serialization.load_pem_private_key(pem, password=None),
                  Ed25519PrivateKey.from_private_bytes, Ed25519PrivateKey)


def parse_public_key(text: str) -> Ed25519PublicKey:
    return _parse(text, "public", serialization.load_pem_public_key, Ed25519PublicKey.from_public_bytes,
                  Ed25519PublicKey)


def _read_or_create(path: Path) -> Ed25519PrivateKey:
    if path.is_file():
        return parse_private_key(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Written whole under a private name, then linked into place: link() refuses an existing
    # target, so of two processes starting at once exactly one key wins and nobody reads half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return parse_private_key(path.read_text())


@lru_cache
def _load_signing_key(secret: str | None, path: Path, create: bool) -> Ed25519PrivateKey | None:
    if secret:
        return parse_private_key(secret)
    if not create and not path.is_file():
        return None
    return _read_or_create(path)


def signing_key() -> Ed25519PrivateKey:
    """The key new certificates are signed with: EE_SIGNING_KEY, else the persisted one (made on first use)."""
    settings = get_settings()
    secret = settings.signing_key.get_secret_value() if settings.signing_key else None
    return _load_signing_key(secret, settings.signing_key_path.resolve(), True)


def public_keys(*, create: bool = True) -> list[PublicKey]:
    """The installation's verifying keys, current first. With create=False (offline checks) a
    missing key file is not made up: there is then no current key."""
    settings = get_settings()
    secret = settings.signing_key.get_secret_value() if settings.signing_key else None
    current = _load_signing_key(secret, settings.signing_key_path.resolve(), create)
    keys = []
    if current is not None:
        public = current.public_key()
        keys.append(PublicKey(key_id(public), public, "current"))
    for text in settings.signing_keys_retired:
        public = parse_public_key(text)
        if all(k.id != key_id(public) for k in keys):
            keys.append(PublicKey(key_id(public), public, "retired"))
    return keys
