"""`effigies verify FILE`: checks a certificate offline, with no server and no database."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from effigies.certificates import keys as keys_module
from effigies.certificates.keys import PublicKey
from effigies.certificates.service import verify

GENUINE, NOT_GENUINE, BAD_INPUT = 0, 1, 2


def _given(text: str) -> PublicKey:
    public = keys_module.parse_public_key(text)
    return PublicKey(keys_module.key_id(public), public, "given")


def _load_keys(key: Path | None, keys: Path | None) -> list[PublicKey]:
    if key is not None:
        return [_given(key.read_text())]
    if keys is not None:
        # The well-known document as served: {"keys": [{"public_key": base64 | "pem": PEM, ...}]}.
        # Ids are recomputed from the keys, never taken from the file.
        listed = json.loads(keys.read_text())["keys"]
        return [_given(entry.get("public_key") or entry["pem"]) for entry in listed]
    # The local installation's keys, as its settings give them; never a freshly made one.
    return keys_module.public_keys(create=False)


def verify_command(path: Path, *, key: Path | None = None, keys: Path | None = None) -> int:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"error: cannot read {path} as JSON: {exc}", file=sys.stderr)
        return BAD_INPUT
    try:
        public_keys = _load_keys(key, keys)
    # InvalidKey and JSONDecodeError are ValueErrors; KeyError/TypeError: a --keys file of another shape.
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: cannot read the public key(s): {exc}", file=sys.stderr)
        return BAD_INPUT
    if not public_keys:
        print("error: no public key here: give --key or --keys (from /.well-known/effigies-signing-key)", file=sys.stderr)
        return BAD_INPUT

    result = verify(document, public_keys)
    if result.reason == "malformed":
        print(f"error: {result.message}", file=sys.stderr)
        return BAD_INPUT
    if not result.genuine:
        print(f"NOT GENUINE: {result.message}")
        return NOT_GENUINE
    facts = result.facts
    print(f"GENUINE: certificate of avatar {facts.avatar_public_id}")
    print(f"  theme:         {facts.theme}, model version {facts.model_version}")
    print(f"  owner:         {facts.owner if facts.owner is not None else '(account deleted)'}")
    print(f"  purchased at:  {facts.purchased_at}")
    print(f"  pHash:         {facts.phash}")
    print(f"  PNG SHA-256:   {facts.image_sha256}")
    print(f"  signed by key: {result.key.id} ({result.key.status})")
    return GENUINE
