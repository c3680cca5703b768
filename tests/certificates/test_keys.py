"""The signing key: from the environment, or made once and kept. Each process here is a fresh start."""
import base64
import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from effigies.certificates import keys
from effigies.certificates.service import canonical_json, verify
from tests.conftest import ROOT

PRINT_KEYS = "import json; from effigies.certificates import keys; print(json.dumps([[k.id, k.status] for k in keys.public_keys()]))"


def _start(data_dir, **extra) -> list[list[str]]:
    """A new process of the installation in `data_dir`: the keys it would publish."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EE_SIGNING_KEY")}
    env.update(EE_DATA_DIR=str(data_dir), **extra)
    out = subprocess.run([sys.executable, "-c", PRINT_KEYS], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _raw_b64(private: Ed25519PrivateKey) -> str:
    return base64.b64encode(private.private_bytes_raw()).decode()


def test_a_key_is_made_on_first_run_kept_private_and_reused(tmp_path):
    first = _start(tmp_path)
    key_file = tmp_path / "signing-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _start(tmp_path) == first
    assert first[0][1] == "current"
    assert [p.name for p in tmp_path.iterdir()] == ["signing-key.pem"]


def test_processes_starting_together_end_up_with_one_key(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: _start(tmp_path)[0][0], range(8)))
    assert len(set(ids)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["signing-key.pem"]


def test_the_environment_key_wins_and_nothing_is_written(tmp_path):
    private = Ed25519PrivateKey.generate()
    expected = keys.key_id(private.public_key())
    assert _start(tmp_path, EE_SIGNING_KEY=_raw_b64(private)) == [[expected, "current"]]
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert _start(tmp_path, EE_SIGNING_KEY=pem.decode()) == [[expected, "current"]]
    assert not any(tmp_path.iterdir())


def test_retired_keys_are_published_and_still_verify_their_certificates(tmp_path):
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_public = base64.b64encode(old.public_key().public_bytes_raw()).decode()
    published = _start(tmp_path, EE_SIGNING_KEY=_raw_b64(new), EE_SIGNING_KEYS_RETIRED=json.dumps([old_public]))
    assert published == [[keys.key_id(new.public_key()), "current"], [keys.key_id(old.public_key()), "retired"]]

    facts = {
        "version": 1, "avatar_public_id": "A" * 16, "theme": "galactic-droids", "model_version": 1,
        "phash": "0" * 64, "image_sha256": "f" * 64, "owner": "Zoé", "purchased_at": "2026-01-02T03:04:05Z",
        "key_id": keys.key_id(old.public_key()), "algorithm": "Ed25519",
    }
    document = {"certificate": facts, "signature": base64.urlsafe_b64encode(old.sign(canonical_json(facts))).decode()}
    retired = keys.PublicKey(keys.key_id(old.public_key()), old.public_key(), "retired")
    current = keys.PublicKey(keys.key_id(new.public_key()), new.public_key(), "current")
    result = verify(document, [current, retired])
    assert (result.genuine, result.key.status) == (True, "retired")
    assert verify(document, [current]).reason == "unknown_key"
