"""`effigies verify FILE`: checks a certificate's signature offline, with no server and no database.

A signature cannot tell whether its owner still owns the avatar (they may have deleted their
account since the download): `--online [URL]` also asks the server (POST /api/verify), which
knows, and says "ownership ended on <date>" (exit 3) when so. The signature is still checked
here, against the keys given, the installation's, or else the server's published ones."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from effigies.certificates import keys as keys_module
from effigies.certificates.keys import PublicKey
from effigies.certificates.service import verify
from effigies.config import get_settings

# 3: the signature is genuine, but the server says the ownership it certifies has ended (--online).
GENUINE, NOT_GENUINE, BAD_INPUT, OWNERSHIP_ENDED = 0, 1, 2, 3
WELL_KNOWN = "/.well-known/effigies-signing-key"


def _given(text: str) -> PublicKey:
    public = keys_module.parse_public_key(text)
    return PublicKey(keys_module.key_id(public), public, "given")


def _from_key_set(document: dict) -> list[PublicKey]:
    # The well-known document as served: {"keys": [{"public_key": base64 | "pem": PEM, ...}]}.
    # Ids are recomputed from the keys, never taken from the file.
    return [_given(entry.get("public_key") or entry["pem"]) for entry in document["keys"]]


def _load_keys(key: Path | None, keys: Path | None) -> list[PublicKey]:
    if key is not None:
        return [_given(key.read_text())]
    if keys is not None:
        return _from_key_set(json.loads(keys.read_text()))
    # The local installation's keys, as its settings give them; never a freshly made one.
    return keys_module.public_keys(create=False)


class ServerError(Exception):
    """The server of --online could not be asked, or answered something else than a verdict."""


def _server(url: str | None) -> str:
    return (url or get_settings().public_url).rstrip("/")


def _ask(method: str, url: str, **kwargs) -> dict:
    import httpx

    try:
        response = httpx.request(method, url, timeout=15, **kwargs)
    except httpx.HTTPError as exc:
        raise ServerError(f"cannot reach {url}: {exc}") from None
    if response.status_code != 200:
        raise ServerError(f"{url} answered {response.status_code}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError:
        raise ServerError(f"{url} did not answer JSON") from None


def _ownership_line(facts, online: dict | None, server: str | None) -> tuple[str, int]:
    """The `ownership:` line and the exit code it implies."""
    if online is None:
        if facts.owner is None:
            return "ended: the owner deleted their account (--online gives the date)", GENUINE
        return "not checked offline (the owner named when issued may have left since): add --online", GENUINE
    if not online.get("genuine") or online.get("ownership") is None:
        return f"unknown: {server} answered: {online.get('message', 'no verdict')}", GENUINE
    ownership = online["ownership"]
    if ownership["status"] == "current":
        return f"current: the avatar still belongs to the account it was sold to (asked {server})", GENUINE
    ended = ownership.get("ended_at")
    when = f"on {ended[:10]}" if ended else "(date not recorded)"
    return (f"ENDED {when}: the owner's account was deleted; the avatar has no owner now (asked {server})",
            OWNERSHIP_ENDED)


def verify_command(
    path: Path, *, key: Path | None = None, keys: Path | None = None, online: bool = False, server: str | None = None
) -> int:
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
    if online:
        server = _server(server)
    if not public_keys and online:
        try:
            public_keys = _from_key_set(_ask("GET", server + WELL_KNOWN))
        except (ServerError, ValueError, KeyError, TypeError) as exc:
            print(f"error: cannot read the public keys of {server}: {exc}", file=sys.stderr)
            return BAD_INPUT
    if not public_keys:
        print("error: no public key here: give --key or --keys (from /.well-known/effigies-signing-key), "
              "or --online", file=sys.stderr)
        return BAD_INPUT

    result = verify(document, public_keys)
    if result.reason == "malformed":
        print(f"error: {result.message}", file=sys.stderr)
        return BAD_INPUT
    if not result.genuine:
        print(f"NOT GENUINE: {result.message}")
        return NOT_GENUINE
    facts = result.facts
    answer = None
    if online:
        try:
            answer = _ask("POST", server + "/api/verify", json=document)
        except ServerError as exc:
            print(f"error: the signature is genuine, but the ownership could not be checked: {exc}", file=sys.stderr)
            return BAD_INPUT
    ownership, code = _ownership_line(facts, answer, server)
    print(f"GENUINE: certificate of avatar {facts.avatar_public_id}")
    print(f"  theme:         {facts.theme}, model version {facts.model_version}")
    print(f"  owner:         {facts.owner if facts.owner is not None else '(account deleted)'}")
    print(f"  purchased at:  {facts.purchased_at}")
    print(f"  pHash:         {facts.phash}")
    print(f"  PNG SHA-256:   {facts.image_sha256}")
    print(f"  signed by key: {result.key.id} ({result.key.status})")
    print(f"  ownership:     {ownership}")
    return code


def keys_list_command() -> int:
    """`effigies keys list`: the keys this installation publishes (no key is made up here)."""
    import base64

    listed = keys_module.public_keys(create=False)
    if not listed:
        print("no signing key yet: one is made on first use (or set EE_SIGNING_KEY)")
        return 0
    for k in listed:
        print(f"{k.id}  {k.status:<8} {base64.b64encode(k.raw).decode('ascii')}")
    return 0


def keys_generate_command() -> int:
    """`effigies keys generate`: a fresh private key on stdout, for EE_SIGNING_KEY (nothing is stored)."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    print(base64.b64encode(private.private_bytes_raw()).decode("ascii"))
    print(f"key id {keys_module.key_id(public)}, public key {base64.b64encode(public.public_bytes_raw()).decode('ascii')}",
          file=sys.stderr)
    return 0


def keys_rotate_command() -> int:
    """`effigies keys rotate`: new certificates get a new key; every certificate issued so far stays genuine."""
    try:
        old_id, new_id = keys_module.rotate()
    except keys_module.RotationRefused:
        import base64

        current = keys_module.public_keys(create=False)[0]
        print(
            "error: the signing key comes from EE_SIGNING_KEY, so it lives in your secret store, not here. To rotate:\n"
            "  1. effigies keys generate            (prints a new private key)\n"
            "  2. add the current public key to EE_SIGNING_KEYS_RETIRED, a JSON list:\n"
            f"       {base64.b64encode(current.raw).decode('ascii')}   (key id {current.id})\n"
            "  3. set EE_SIGNING_KEY to the new key and restart the api and every worker",
            file=sys.stderr,
        )
        return BAD_INPUT
    except (OSError, keys_module.InvalidKey) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if old_id is None:
        print(f"there was no key yet; new signing key {new_id}")
    else:
        print(f"signing key {old_id} retired (certificates it signed stay genuine); new signing key {new_id}")
        print(f"retired public key kept in {keys_module.retired_keys_dir() / (old_id + '.pem')}")
    print("running processes pick up the new key on their next certificate; no restart needed")
    return 0
