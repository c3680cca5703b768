"""`effigies backup` / `effigies restore` round trip on the real stack (fixtures: tests/ops/conftest.py)."""
import hashlib
import json
import re
import shutil
import stat
import subprocess
import sys
import tarfile

import httpx
import psycopg
import pytest

from tests.conftest import ROOT
from tests.ops.conftest import (
    effigies, flip_byte, ledger, owner_on, restored_env, rewrite_manifest, sha256, table_counts,
)


def _head() -> str:
    from alembic.script import ScriptDirectory

    from effigies.cli import _alembic_config

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _offline_verify(env, data_dir, certificate, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(certificate))
    offline = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    offline["EE_DATA_DIR"] = str(data_dir)
    return effigies(offline, "verify", str(path), timeout=60)


def test_the_archive_holds_the_dump_the_files_the_rows_need_and_a_manifest(source, stack):
    m, files = source.manifest, source.manifest["files"]
    assert m["format"] == "effigies-backup/1" and m["app_version"] and m["created_at"].endswith("Z")
    assert m["alembic_revision"] == _head()
    assert m["row_counts"] == source.counts and m["row_counts"]["avatars"] >= 1 and m["row_counts"]["topups"] >= 1
    assert m["missing"] == []
    image = f"images/{source.image_path}"
    assert files[image] == {"sha256": sha256(stack.data_dir / image), "size": (stack.data_dir / image).stat().st_size}
    # Rebuilt on demand, so left out: the master and variants the public URL made, the watermarked previews.
    assert any((stack.data_dir / "images" / "avatars" / source.public_id).iterdir())
    assert (stack.data_dir / image).with_suffix(".preview.webp").is_file()
    assert not [p for p in files if p.startswith("images/avatars/") or p.endswith(".preview.webp")]
    # The private key stays out; its public half is listed, so old certificates stay verifiable.
    assert "signing-key.pem" not in files and m["signing_key_included"] is False
    assert source.certificate["certificate"]["key_id"] in [k["id"] for k in m["signing_keys"]]
    with tarfile.open(source.archive) as tar:
        names = tar.getnames()
        dump = tar.extractfile("database.dump").read()
    assert names[0] == "database.dump" and names[-2:] == ["manifest.json", "manifest.json.sha256"]
    assert sorted(names[1:-2]) == sorted("data/" + p for p in files)
    assert hashlib.sha256(dump).hexdigest() == m["database"]["sha256"] and dump.startswith(b"PGDMP")
    assert stat.S_IMODE(source.archive.stat().st_mode) == 0o600  # e-mails and password hashes inside


def test_restore_into_a_new_database_and_folder_gives_back_the_same_installation(source, restored, stack, tmp_path):
    assert "archive verified" in restored.restore_output
    assert table_counts(restored.database_url) == source.manifest["row_counts"] == source.counts
    assert ledger(restored.database_url) == source.ledger
    for path, entry in source.manifest["files"].items():
        assert sha256(restored.data_dir / path) == entry["sha256"], path
    image = f"images/{source.image_path}"
    assert sha256(restored.data_dir / image) == sha256(stack.data_dir / image)

    # The certificate downloaded before the backup still verifies, offline, with the restored folder's keys:
    # the archive had only the public key, kept as a retired key.
    checked = _offline_verify(restored.env, restored.data_dir, source.certificate, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"GENUINE: certificate of avatar {source.public_id}" in checked.stdout and "(retired)" in checked.stdout

    # An API on the restored database and folder serves the same bytes at the public URL, and the
    # owner's session, wallet and avatar came back with it.
    served = httpx.get(f"{restored.url}/a/{source.public_id}.png", timeout=30)
    assert served.status_code == 200 and served.content == source.png
    with owner_on(restored.url, source) as owner:
        assert owner.get("/api/wallet").json()["balance_cents"] == 140
        assert [a["public_id"] for a in owner.get("/api/me/avatars").json()] == [source.public_id]
    verdict = httpx.get(f"{restored.url}/api/verify/{source.public_id}", timeout=30).json()
    assert verdict["genuine"] is True and verdict["certificate"]["image_sha256"] == source.certificate["certificate"]["image_sha256"]


@pytest.mark.parametrize("member", ["database.dump", "avatar image"])
def test_a_changed_byte_is_refused_before_anything_is_touched(member, source, stack, databases, tmp_path):
    tampered = tmp_path / "tampered.tar"
    shutil.copy(source.archive, tampered)
    flip_byte(tampered, "database.dump" if member == "database.dump" else f"data/images/{source.image_path}")
    url, data_dir = databases.new(), tmp_path / "data"
    done = effigies(restored_env(stack, url, data_dir), "restore", str(tampered))
    assert done.returncode == 4, done.stdout + done.stderr
    assert "does not match its checksum" in done.stderr
    assert table_counts(url) == {} and not data_dir.exists()


def test_a_database_or_data_folder_that_holds_data_is_not_overwritten_without_force(source, stack, databases, tmp_path):
    live = stack.env["DATABASE_URL"]
    before = (table_counts(live), ledger(live))
    done = effigies(restored_env(stack, live, tmp_path / "empty"), "restore", str(source.archive))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "refusing to overwrite" in done.stderr and "--force" in done.stderr
    assert (table_counts(live), ledger(live)) == before
    assert not (tmp_path / "empty").exists()

    url, data_dir = databases.new(), tmp_path / "data"
    (data_dir / "images").mkdir(parents=True)
    (data_dir / "images" / "keep.png").write_bytes(b"not yours to replace")
    done = effigies(restored_env(stack, url, data_dir), "restore", str(source.archive))
    assert done.returncode == 3, done.stdout + done.stderr
    assert table_counts(url) == {}
    assert [p.name for p in data_dir.rglob("*")] == ["images", "keep.png"]
    assert (data_dir / "images" / "keep.png").read_bytes() == b"not yours to replace"


def test_force_replaces_what_was_there_and_the_signing_key_can_travel_in_the_archive(source, stack, databases, tmp_path):
    with_key = tmp_path / "with-key.tar"
    done = effigies(stack.env, "backup", "--out", str(with_key), "--with-signing-key")
    assert done.returncode == 0, done.stdout + done.stderr
    with tarfile.open(with_key) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["signing_key_included"] is True
    assert manifest["files"]["signing-key.pem"]["sha256"] == sha256(stack.data_dir / "signing-key.pem")

    url, data_dir = databases.new(), tmp_path / "data"
    env = restored_env(stack, url, data_dir)
    assert effigies(env, "restore", str(source.archive)).returncode == 0
    # The installation moves on after the first restore: a new admin, a stray file.
    created = effigies({**env, "EE_ADMIN_PASSWORD": "another-admin-pw"}, "admin", "create", "--email", "late@players.effigies.fr")
    assert created.returncode == 0, created.stderr
    (data_dir / "images" / "stray.png").write_bytes(b"stray")
    assert table_counts(url)["users"] == manifest["row_counts"]["users"] + 1

    refused = effigies(env, "restore", str(with_key))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    done = effigies(env, "restore", "--force", str(with_key))
    assert done.returncode == 0, done.stdout + done.stderr
    assert table_counts(url) == manifest["row_counts"]
    assert not (data_dir / "images" / "stray.png").exists()
    assert sha256(data_dir / "signing-key.pem") == sha256(stack.data_dir / "signing-key.pem")
    assert stat.S_IMODE((data_dir / "signing-key.pem").stat().st_mode) == 0o600
    checked = _offline_verify(env, data_dir, source.certificate, tmp_path)
    assert checked.returncode == 0 and "(current)" in checked.stdout, checked.stdout + checked.stderr


def test_an_archive_of_an_older_schema_is_migrated_after_restore(stack, databases, tmp_path):
    old = databases.new()
    env = restored_env(stack, old, tmp_path / "old-data")
    migrate = "from alembic import command; from effigies.cli import _alembic_config; command.upgrade(_alembic_config(), '0007')"
    subprocess.run([sys.executable, "-c", migrate], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    archive = tmp_path / "old.tar"
    done = effigies(env, "backup", "--out", str(archive))
    assert done.returncode == 0, done.stdout + done.stderr

    url = databases.new()
    done = effigies(restored_env(stack, url, tmp_path / "data"), "restore", str(archive))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"the archive is at migration 0007, this version at {_head()}: upgrading" in done.stdout
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == _head()
        assert conn.execute("SELECT count(*) FROM themes").fetchone()[0] >= 4  # db upgrade seeded them


def test_an_archive_from_a_newer_version_is_refused(source, stack, databases, tmp_path):
    """Even with consistent checksums: this version cannot know what a future migration changed."""
    future = tmp_path / "future.tar"
    rewrite_manifest(source.archive, future, lambda m: m.update(alembic_revision="9999"))
    url, data_dir = databases.new(), tmp_path / "data"
    done = effigies(restored_env(stack, url, data_dir), "restore", str(future))
    assert done.returncode == 4, done.stdout + done.stderr
    assert "'9999', which this version of effigies does not know" in done.stderr
    assert table_counts(url) == {} and not data_dir.exists()


def test_client_programs_older_than_the_server_are_refused_with_a_clear_message():
    from effigies.ops.pgtools import OpsError, find_bin

    with pytest.raises(OpsError) as refused:
        find_bin(("pg_dump",), min_major=99, why="the server runs PostgreSQL 99")
    message = str(refused.value)
    assert "PostgreSQL 99 or newer are needed (the server runs PostgreSQL 99)" in message
    assert "postgresql-client-99" in message and "found: " in message and "found: none" not in message
    # The wheel's PostgreSQL 18 (a dependency, so in the Docker image too) is always a candidate.
    assert find_bin(("pg_restore", "psql"), min_major=18, why="test").major >= 18


def test_newer_client_programs_restore_into_an_older_server(source, stack, databases, tmp_path):
    """The Docker image has only the wheel's PostgreSQL 18 programs while the server may be older:
    pg_restore 17+ writes `SET transaction_timeout`, which restore drops for a server before 17."""
    newer = tmp_path / "newer.tar"
    rewrite_manifest(source.archive, newer, lambda m: m["postgres"].update(pg_dump_major=18))
    url = databases.new()
    done = effigies(restored_env(stack, url, tmp_path / "data"), "restore", str(newer))
    assert done.returncode == 0, done.stdout + done.stderr
    assert int(re.search(r"with pg_restore (\d+)\.", done.stderr).group(1)) >= 18
    assert table_counts(url) == source.manifest["row_counts"]


def test_a_backup_missing_an_avatar_image_says_so_and_exits_3(source, stack, databases, tmp_path):
    url, data_dir = databases.new(), tmp_path / "data"
    env = restored_env(stack, url, data_dir)
    assert effigies(env, "restore", str(source.archive)).returncode == 0
    (data_dir / "images" / source.image_path).unlink()  # a lost disk block, a careless rm
    out = tmp_path / "incomplete.tar"
    done = effigies(env, "backup", "--out", str(out))
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"avatar image: images/{source.image_path}" in done.stderr
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["missing"] == [{"path": f"images/{source.image_path}", "what": "avatar image"}]
    assert f"images/{source.image_path}" not in manifest["files"]
