"""An installation with real data, its backup, and the same installation restored elsewhere.

The source is the session's stack: a user who topped up by card (localstripe, signed webhook)
and got an admin adjustment, generated candidates on the worker and bought one. The backup runs
as `effigies backup` in its own process; the restore goes into a new database on the same
server and a new data folder, and an API process is started on what was restored.
"""
from __future__ import annotations

import hashlib
import io
import json
import secrets
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.billing.stripe_helpers import payment_method, wait_topup
from tests.conftest import ROOT, ApiClient, _drop_database, _spawn, _stop, _with_database, free_port, fund, wait_generation, wait_http


def effigies(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "effigies.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Databases:
    """Fresh databases on the stack's server, dropped at the end of the session."""

    def __init__(self, server_url: str) -> None:
        self.server_url, self.names = server_url, []

    def new(self) -> str:
        name = f"ee_ops_{secrets.token_hex(4)}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return _with_database(self.server_url, name)

    def drop_all(self) -> None:
        for name in self.names:
            _drop_database(self.server_url, name)


def table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {t: conn.execute(f'SELECT count(*) FROM public."{t}"').fetchone()[0] for t in tables}


def ledger(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, kind, user_id, balance_cents FROM ledger_accounts ORDER BY id").fetchall()


def flip_byte(archive: Path, member: str, at: float = 0.5) -> None:
    """Change one bit of one byte inside `member`'s data, nothing else."""
    with tarfile.open(archive) as tar:
        info = tar.getmember(member)
        offset = info.offset_data + int(info.size * at)
    with open(archive, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x01]))


def rewrite_manifest(archive: Path, out: Path, change) -> None:  # noqa: ANN001
    """A copy of `archive` whose manifest `change(manifest)` edited, its checksum recomputed: a
    consistent archive that says something else (the checksums catch damage, not intent)."""
    members = {}
    with tarfile.open(archive) as tar:
        for info in tar:
            members[info.name] = tar.extractfile(info).read()
    manifest = json.loads(members["manifest.json"])
    change(manifest)
    members["manifest.json"] = json.dumps(manifest).encode()
    members["manifest.json.sha256"] = hashlib.sha256(members["manifest.json"]).hexdigest().encode() + b"  manifest.json\n"
    with tarfile.open(out, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@dataclass
class Source:
    env: dict[str, str]
    owner_token: str
    owner_id: uuid.UUID
    public_id: str
    image_path: str
    certificate: dict[str, Any]
    png: bytes
    counts: dict[str, int]
    ledger: list[tuple]
    archive: Path
    manifest: dict[str, Any]
    backup_output: str


@dataclass
class Restored:
    env: dict[str, str]
    url: str
    data_dir: Path
    database_url: str
    restore_output: str


@pytest.fixture(scope="session")
def databases(stack) -> Iterator[Databases]:
    dbs = Databases(stack.env["DATABASE_URL"])
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def source(stack, tmp_path_factory) -> Source:
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope

    with session_scope() as session:
        user = accounts_service.signup(session=session, email=f"ops-{uuid.uuid4().hex[:8]}@players.effigies.fr",
                                       password="correct-horse-battery", display_name="Opérations", role="user")
        token, owner_id = accounts_service.open_session(session=session, user=user), user.id
    fund(owner_id, 50)  # an admin adjustment
    with ApiClient(base_url=stack.url, timeout=30) as owner:
        owner.cookies.set("ee_session", token)
        topup = owner.post("/api/wallet/topups", json={"amount_cents": 100, "payment_method_id": payment_method("4242424242424242")})
        assert topup.status_code == 201, topup.text
        assert wait_topup(owner, topup.json()["id"])["status"] == "succeeded"
        job = owner.post("/api/themes/galactic-droids/generations", json={"count": 2}).json()
        candidates = wait_generation(owner, job["id"])["candidates"]
        assert len(candidates) == 2, candidates
        bought = owner.post(f"/api/candidates/{candidates[0]['id']}/purchase", json={"withdrawal_waiver": True})
        assert bought.status_code == 201, bought.text
        public_id = bought.json()["avatar"]["public_id"]
        certificate = owner.get(f"/api/avatars/{public_id}/certificate").json()
        assert owner.get("/api/wallet").json()["balance_cents"] == 140
    png = httpx.get(f"{stack.url}/a/{public_id}.png", timeout=30)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")

    with psycopg.connect(stack.env["DATABASE_URL"]) as conn:
        image_path = conn.execute("SELECT image_path FROM avatars WHERE public_id = %s", (public_id,)).fetchone()[0]
    counts, accounts = table_counts(stack.env["DATABASE_URL"]), ledger(stack.env["DATABASE_URL"])
    out = tmp_path_factory.mktemp("backups")
    done = effigies(stack.env, "backup", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    [archive] = list(out.glob("*.tar"))
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    return Source(stack.env, token, owner_id, public_id, image_path, certificate, png.content, counts, accounts,
                  archive, manifest, done.stdout + done.stderr)


def restored_env(stack, database_url: str, data_dir: Path) -> dict[str, str]:
    port = free_port()
    env = {k: v for k, v in stack.env.items() if not k.startswith("EE_SIGNING_KEY")}
    env.update(DATABASE_URL=database_url, EE_DATA_DIR=str(data_dir), EE_PORT=str(port),
               EE_PUBLIC_URL=f"http://127.0.0.1:{port}")
    return env


@pytest.fixture(scope="session")
def restored(stack, source, databases, tmp_path_factory) -> Iterator[Restored]:
    """The archive restored into a new database and data folder, and an API serving them."""
    data_dir = tmp_path_factory.mktemp("restored") / "data"
    env = restored_env(stack, databases.new(), data_dir)
    done = effigies(env, "restore", str(source.archive))
    assert done.returncode == 0, done.stdout + done.stderr
    logs = tmp_path_factory.mktemp("restored-logs")
    api = _spawn(["api"], env, logs / "api.log")
    try:
        url = f"http://127.0.0.1:{env['EE_PORT']}"
        wait_http(url + "/api/health", 90, api)
        yield Restored(env, url, data_dir, env["DATABASE_URL"], done.stdout + done.stderr)
    finally:
        _stop(api)


def owner_on(url: str, source: Source) -> ApiClient:
    client = ApiClient(base_url=url, timeout=30)
    client.cookies.set("ee_session", source.owner_token)
    return client

