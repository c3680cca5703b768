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
RETIRED_DIR = "signing-keys-retired"


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


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Identity of the file now: part of the cache key, so a rotated key (a new file renamed over
    the old one, `effigies keys rotate`) is seen by running processes without a restart."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@lru_cache(maxsize=16)
def _load_signing_key(
    secret: str | None, path: Path, create: bool, stamp: tuple[int, int, int] | None = None
) -> Ed25519PrivateKey | None:
    if secret:
        return parse_private_key(secret)
    if not create and not path.is_file():
        return None
    return _read_or_create(path)


def _current(create: bool) -> Ed25519PrivateKey | None:
    settings = get_settings()
    secret = settings.signing_key.get_secret_value() if settings.signing_key else None
    path = settings.signing_key_path.resolve()
    return _load_signing_key(secret, path, create, None if secret else _stamp(path))


def signing_key() -> Ed25519PrivateKey:
    """The key new certificates are signed with: EE_SIGNING_KEY, else the persisted one (made on first use)."""
    return _current(True)


def retired_keys_dir() -> Path:
    """Public keys retired by `effigies keys rotate` or `effigies restore`, one PEM file per key id.
    Kept in EE_DATA_DIR beside the key file, so that a backup of the folder carries them."""
    return get_settings().data_dir / RETIRED_DIR


@lru_cache(maxsize=16)
def _retired_in(folder: Path, stamp: tuple[int, int, int] | None) -> tuple[Ed25519PublicKey, ...]:
    if stamp is None:
        return ()
    return tuple(parse_public_key(p.read_text()) for p in sorted(folder.glob("*.pem")))


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def retire(public: Ed25519PublicKey) -> Path:
    """Keep `public` among the verifying keys for good (idempotent)."""
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = retired_keys_dir() / f"{key_id(public)}.pem"
    if not path.is_file() or path.read_bytes() != pem:
        _atomic_write(path, pem, 0o644)
    return path


class RotationRefused(RuntimeError):
    """The signing key comes from EE_SIGNING_KEY: only the operator's secret store can change it."""


def rotate() -> tuple[str | None, str]:
    """A new key signs from now on; the old one verifies forever. Returns (old id, new id).

    The old public key is retired *before* the new key replaces the file: a crash in between
    leaves the old key current and also listed as retired, never a certificate without its key."""
    settings = get_settings()
    if settings.signing_key:
        raise RotationRefused("EE_SIGNING_KEY is set")
    path = settings.signing_key_path
    old = parse_private_key(path.read_text()) if path.is_file() else None
    if old is not None:
        retire(old.public_key())
    new = Ed25519PrivateKey.generate()
    pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _atomic_write(path, pem, 0o600)
    return (key_id(old.public_key()) if old else None), key_id(new.public_key())


def public_keys(*, create: bool = True) -> list[PublicKey]:
    """The installation's verifying keys, current first. With create=False (offline checks) a
    missing key file is not made up: there is then no current key."""
    settings = get_settings()
    current = _current(create)
    keys = []
    if current is not None:
        public = current.public_key()
        keys.append(PublicKey(key_id(public), public, "current"))
    folder = retired_keys_dir().resolve()
    retired = [parse_public_key(text) for text in settings.signing_keys_retired]
    for public in [*retired, *_retired_in(folder, _stamp(folder))]:
        if all(k.id != key_id(public) for k in keys):
            keys.append(PublicKey(key_id(public), public, "retired"))
    return keys
