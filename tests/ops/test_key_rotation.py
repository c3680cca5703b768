"""`effigies keys rotate` on the restored installation (its own data folder and API process), so
the session's stack keeps its key. The API is not restarted: it must notice the new key file."""
import base64
import json
import stat

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.ops.conftest import effigies, owner_on


def _published(url: str) -> dict[str, str]:
    return {k["id"]: k["status"] for k in httpx.get(f"{url}/.well-known/effigies-signing-key", timeout=30).json()["keys"]}


def test_rotation_signs_new_certificates_with_a_new_key_and_old_ones_stay_genuine(source, restored, tmp_path):
    archived_key = source.certificate["certificate"]["key_id"]
    with owner_on(restored.url, source) as owner:
        before = owner.get(f"/api/avatars/{source.public_id}/certificate").json()
        old_key = before["certificate"]["key_id"]
        assert old_key != archived_key  # the restore made its own key; the archived one is retired
        assert _published(restored.url) == {old_key: "current", archived_key: "retired"}

        done = effigies(restored.env, "keys", "rotate", timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"signing key {old_key} retired" in done.stdout
        key_file = restored.data_dir / "signing-key.pem"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert (restored.data_dir / "signing-keys-retired" / f"{old_key}.pem").is_file()

        after = owner.get(f"/api/avatars/{source.public_id}/certificate").json()
        new_key = after["certificate"]["key_id"]
        assert new_key not in (old_key, archived_key) and f"new signing key {new_key}" in done.stdout
        assert after["certificate"] | {"key_id": old_key} == before["certificate"]  # same facts, new key
        assert _published(restored.url) == {new_key: "current", old_key: "retired", archived_key: "retired"}
        for document, status in ((before, "retired"), (after, "current"), (source.certificate, "retired")):
            verdict = owner.post("/api/verify", json=document).json()
            assert (verdict["genuine"], verdict["key_status"]) == (True, status)

    # Offline, with the folder's keys only, the certificate signed before the rotation is genuine.
    path = tmp_path / "before.json"
    path.write_text(json.dumps(before))
    offline = {k: v for k, v in restored.env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    checked = effigies(offline, "verify", str(path), timeout=60)
    assert checked.returncode == 0 and f"signed by key: {old_key} (retired)" in checked.stdout, checked.stdout

    listed = effigies(offline, "keys", "list", timeout=60)
    assert listed.returncode == 0
    rows = [line.split()[:2] for line in listed.stdout.splitlines()]
    assert rows[0] == [new_key, "current"] and sorted(rows[1:]) == sorted([[old_key, "retired"], [archived_key, "retired"]])


def test_rotation_is_refused_when_the_key_comes_from_the_environment(restored):
    key_file = restored.data_dir / "signing-key.pem"
    untouched = key_file.read_bytes() if key_file.exists() else None
    private = base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()
    done = effigies({**restored.env, "EE_SIGNING_KEY": private}, "keys", "rotate", timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "EE_SIGNING_KEYS_RETIRED" in done.stderr and "effigies keys generate" in done.stderr
    assert (key_file.read_bytes() if key_file.exists() else None) == untouched
