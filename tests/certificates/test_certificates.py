"""Certificates against the real stack; `effigies verify` as a separate process with no servers."""
import base64
import copy
import hashlib
import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.avatars.test_purchase import _candidates
from tests.conftest import ROOT


def _buy(make_user, slug: str = "arcane-sigils"):  # an opaque theme; RGBA: the test below
    """(owner client, public_id, downloaded certificate) for a freshly bought avatar of `slug`."""
    owner, _ = make_user(balance_cents=100)
    candidate = _candidates(owner, 1, slug=slug)[0]
    public_id = owner.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True}).json()["avatar"]["public_id"]
    response = owner.get(f"/api/avatars/{public_id}/certificate")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == f'attachment; filename="effigies-{public_id}.json"'
    return owner, public_id, response.json()


@pytest.fixture
def bought(make_user):
    return _buy(make_user)


def _offline_verify(stack, tmp_path, document, *args, data_dir=None) -> subprocess.CompletedProcess:
    """`effigies verify` with no database or Redis configured: offline, as a buyer's laptop would be."""
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    env = {k: v for k, v in stack.env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["EE_DATA_DIR"] = str(data_dir or stack.data_dir)
    return subprocess.run(
        [sys.executable, "-m", "effigies.cli", "verify", str(path), *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def _tampered(document, kind):
    bad = copy.deepcopy(document)
    if kind == "owner":
        bad["certificate"]["owner"] = "Mallory"
    elif kind == "sha256":
        digest = bad["certificate"]["image_sha256"]
        bad["certificate"]["image_sha256"] = ("0" if digest[0] != "0" else "1") + digest[1:]
    else:
        raw = bytearray(base64.urlsafe_b64decode(bad["signature"] + "=="))
        raw[10] ^= 0x01
        bad["signature"] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return bad


def test_the_certificate_states_the_facts_and_verifies_online_and_offline(bought, client, stack, tmp_path):
    _, public_id, document = bought
    image = _check_certificate(client, stack, tmp_path, public_id, document, theme="arcane-sigils")
    assert image.startswith(b"\x89PNG") and _png_colour_type(image) == 2  # RGB, as sold before RGBA themes


def test_a_transparent_avatar_certifies_its_rgba_file(make_user, rgba_theme, client, stack, tmp_path):
    _, public_id, document = _buy(make_user, rgba_theme)
    image = _check_certificate(client, stack, tmp_path, public_id, document, theme=rgba_theme)
    assert _png_colour_type(image) == 6  # RGBA: the file certified is the one with alpha
    assert client.get(f"/api/verify/{public_id}").json()["genuine"] is True


def _png_colour_type(png: bytes) -> int:
    return png[25]  # IHDR: 8-byte signature, length, type, width, height, bit depth, colour type


def _check_certificate(client, stack, tmp_path, public_id, document, *, theme: str) -> bytes:
    """The facts match the avatar's row and stored file; genuine online and offline. Returns the file."""
    from effigies.avatars.models import Avatar
    from effigies.db import session_scope
    from sqlalchemy import select

    facts = document["certificate"]
    with session_scope() as session:
        avatar = session.scalar(select(Avatar).where(Avatar.public_id == public_id))
        image = (stack.data_dir / "images" / avatar.image_path).read_bytes()
        fingerprint = avatar.fingerprint.hex()
    assert facts["avatar_public_id"] == public_id
    assert (facts["theme"], facts["model_version"], facts["owner"]) == (theme, 1, "Test")
    assert facts["phash"] == fingerprint
    assert facts["image_sha256"] == hashlib.sha256(image).hexdigest()
    assert facts["purchased_at"].endswith("Z")

    online = client.post("/api/verify", json=document)
    assert online.status_code == 200, online.text
    assert online.json()["genuine"] is True
    assert online.json()["key_status"] == "current"
    assert online.json()["image_url"].endswith(f"/a/{public_id}.png")

    offline = _offline_verify(stack, tmp_path, document)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert f"GENUINE: certificate of avatar {public_id}" in offline.stdout
    return image


@pytest.mark.parametrize("kind", ["owner", "sha256", "signature"])
def test_a_tampered_certificate_fails_online_and_offline(bought, client, stack, tmp_path, kind):
    _, _, document = bought
    bad = _tampered(document, kind)
    online = client.post("/api/verify", json=bad).json()
    assert (online["genuine"], online["reason"]) == (False, "bad_signature")
    offline = _offline_verify(stack, tmp_path, bad)
    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert "NOT GENUINE" in offline.stdout


def test_offline_verification_with_the_published_keys(bought, client, stack, tmp_path):
    _, _, document = bought
    published = client.get("/.well-known/effigies-signing-key")
    assert published.status_code == 200
    (key,) = published.json()["keys"]
    assert (key["id"], key["status"], key["algorithm"]) == (document["certificate"]["key_id"], "current", "Ed25519")
    assert len(base64.b64decode(key["public_key"])) == 32
    load_pem_public_key(key["pem"].encode())

    # Somewhere with no key of its own: only what the buyer saved from the well-known URL.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(published.text)
    pem_file = tmp_path / "key.pem"
    pem_file.write_text(key["pem"])
    assert _offline_verify(stack, tmp_path, document, "--keys", str(keys_file), data_dir=elsewhere).returncode == 0
    assert _offline_verify(stack, tmp_path, document, "--key", str(pem_file), data_dir=elsewhere).returncode == 0
    assert _offline_verify(stack, tmp_path, _tampered(document, "owner"), "--key", str(pem_file), data_dir=elsewhere).returncode == 1
    missing = _offline_verify(stack, tmp_path, document, data_dir=elsewhere)
    assert missing.returncode == 2 and "no public key" in missing.stderr
    assert not any(elsewhere.iterdir())  # verifying never makes up a key


def test_unreadable_files_exit_2(stack, tmp_path):
    assert _offline_verify(stack, tmp_path, "{not json").returncode == 2
    assert _offline_verify(stack, tmp_path, {"certificate": {"owner": "x"}, "signature": "AA"}).returncode == 2


def test_only_the_owner_downloads_the_certificate(bought, make_user, client):
    _, public_id, _ = bought
    other, _ = make_user()
    response = other.get(f"/api/avatars/{public_id}/certificate")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "avatar_not_found"
    assert client.get(f"/api/avatars/{public_id}/certificate").status_code == 401
    assert other.get("/api/avatars/nosuchavatar0000/certificate").status_code == 404


def test_public_verification_of_an_avatar(bought, client):
    _, public_id, document = bought
    response = client.get(f"/api/verify/{public_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["genuine"] is True
    assert body["certificate"] == document["certificate"]
    assert client.get("/api/verify/nosuchavatar0000").json()["error"]["code"] == "avatar_not_found"

    page = client.get(f"/verify/{public_id}", follow_redirects=False)
    assert page.status_code == 302 and page.headers["location"] == f"/#/verify/{public_id}"


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"certificate": {}}', b'{"certificate": {"version": 1}, "signature": "AA"}'],
    ids=["broken-json", "not-an-object", "no-signature", "incomplete-facts"],
)
def test_a_body_that_is_no_certificate_is_a_4xx_json_error(client, body):
    response = client.post("/api/verify", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] in ("invalid_request", "invalid_certificate")


def test_anyone_may_post_a_certificate_without_a_csrf_token(bought, stack):
    import httpx

    _, _, document = bought
    response = httpx.post(stack.url + "/api/verify", json=document, headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200 and response.json()["genuine"] is True
