"""`effigies backup --out DIR_OR_FILE`: the database and the files it needs, in one archive.

Consistency: database first, then files, from one snapshot. A REPEATABLE READ transaction
exports its snapshot; pg_dump dumps exactly that snapshot (--snapshot), and the same
transaction then lists the files the dumped rows point at and counts every table. Nothing
can lose a sold avatar's image this way: its PNG is written (and renamed into place) before
the candidate row that names it is committed, the purchase commits after that, and the file
is never rewritten or deleted afterwards (only *unsold* expired candidates' files are swept).
So every avatar in the dump has its file on disk before the snapshot, and still has it when
the files are copied a moment later. Files first would not do: an avatar bought between the
file copy and the dump would be in the dump without its image.

What is not copied, because it is rebuilt on demand or is not ours to keep: avatar masters and
variants (images/avatars/ID/), watermarked previews (*.preview.webp), contact sheets
(images/boards/, deleted after a day anyway), expired candidates' images, checkpoints of
finished training runs (their generator is exported under models/), the embedded servers'
folders (postgres/, redis/, localstripe/), logs, pid files, local secrets.json, and the
signing key's private half unless --with-signing-key (manifest.json carries the public keys,
and restore keeps them as retired keys, so every certificate issued stays verifiable).
"""
from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from effigies.ops import archive
from effigies.ops.pgtools import OpsError, connection_for_tools, describe, find_bin, libpq_url

INCOMPLETE = 3  # exit status: archive written, but files the database needs were missing
ACTIVE_RUNS = ("queued", "running")


def _target(out: Path, now: datetime) -> Path:
    if out.is_dir() or str(out).endswith(("/", os.sep)):
        out.mkdir(parents=True, exist_ok=True)
        return out / f"effigies-backup-{now:%Y%m%dT%H%M%SZ}.tar"
    if out.exists():
        raise OpsError(f"{out} already exists: give a new file name, or a folder")
    if not out.parent.is_dir():
        raise OpsError(f"folder {out.parent} does not exist")
    return out


def _inventory(conn) -> dict[str, Any]:  # noqa: ANN001 - a psycopg connection inside the snapshot
    """Everything the manifest says about the database, read in the dump's own snapshot. Tables
    are looked up first, so an archive can be made of a database at any migration."""
    from psycopg import sql

    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    counts = {
        t: conn.execute(sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(t))).fetchone()[0] for t in tables
    }

    def rows(table: str, query: str) -> list[tuple]:
        return list(conn.execute(query)) if table in counts else []

    revision = rows("alembic_version", "SELECT version_num FROM alembic_version")
    return {
        "row_counts": counts,
        "alembic_revision": revision[0][0] if revision else None,
        "avatars": [r[0] for r in rows("avatars", "SELECT image_path FROM avatars ORDER BY created_at")],
        "offered": [r[0] for r in rows("candidates", "SELECT image_path FROM candidates WHERE status = 'offered'")],
        "models": [r[0] for r in rows("model_versions", "SELECT weights_dir FROM model_versions WHERE weights_dir LIKE 'data:%'")],
        "runs": [(str(r[0]), r[1]) for r in rows("training_runs", "SELECT id, status FROM training_runs")],
    }


def _relative(*parts: str) -> str | None:
    """A path under EE_DATA_DIR built from database values, or None if it would leave it."""
    path = posixpath.normpath(posixpath.join(*parts))
    return None if path.startswith(("/", "..")) or "/../" in path else path


def _walk(data_dir: Path, top: str, skip_dirs: tuple[str, ...] = ()) -> list[str]:
    root = data_dir / top
    found = []
    for folder, dirs, files in os.walk(root):
        # Dot names are half-written temporaries (every writer here renames them into place).
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in skip_dirs)
        for name in sorted(files):
            if not name.startswith("."):
                found.append(Path(folder, name).relative_to(data_dir).as_posix())
    return found


def _plan(data_dir: Path, inventory: dict[str, Any], *, with_signing_key: bool, datasets: bool
          ) -> tuple[list[tuple[str, str | None]], list[dict[str, str]]]:
    """([(path, what it is if the database needs it, else None)], [missing required files])."""
    wanted: dict[str, str | None] = {}
    missing: list[dict[str, str]] = []
    for image in inventory["avatars"]:
        rel = _relative("images", image)
        if rel is not None:
            wanted[rel] = "avatar image"
    for image in inventory["offered"]:
        rel = _relative("images", image)
        if rel is not None:
            wanted.setdefault(rel, None)  # swept at expiry between snapshot and copy: fine
    for weights in inventory["models"]:
        rel = _relative(weights.partition(":")[2])
        if rel is None:
            continue
        files = _walk(data_dir, rel)
        if not files:
            missing.append({"path": rel, "what": "model weights"})
        wanted.update((f, "model weights") for f in files)
    for run_id, status in inventory["runs"]:
        # Checkpoints only matter to a run that will resume; the rest of the folder is its history.
        skip = () if status in ACTIVE_RUNS else ("checkpoints",)
        wanted.update((f, None) for f in _walk(data_dir, f"training/{run_id}", skip))
    if datasets:
        wanted.update((f, None) for f in _walk(data_dir, "datasets"))
    from effigies.certificates.keys import RETIRED_DIR

    wanted.update((f, "retired signing key") for f in _walk(data_dir, RETIRED_DIR))
    if with_signing_key:
        wanted["signing-key.pem"] = "signing key"
    plan = []
    for rel, what in wanted.items():
        if (data_dir / rel).is_file():
            plan.append((rel, what))
        elif what is not None and what != "model weights":
            missing.append({"path": rel, "what": what})
    return plan, missing


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _signing_keys() -> list[dict[str, str]]:
    from effigies.certificates import keys

    try:
        listed = keys.public_keys(create=False)
    except keys.InvalidKey as exc:
        raise OpsError(f"cannot read the signing keys: {exc}") from None
    return [{"id": k.id, "status": k.status, "public_key": base64.b64encode(k.raw).decode("ascii")} for k in listed]


def _app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("effigies")
    except PackageNotFoundError:
        return "unknown"


def run_backup(out: Path, *, with_signing_key: bool = False, datasets: bool = True) -> int:
    import psycopg

    from effigies.config import get_settings

    settings = get_settings()
    if not settings.database_url:
        raise OpsError("DATABASE_URL is not set: which database should be backed up?")
    data_dir = settings.data_dir.resolve()
    if with_signing_key and settings.signing_key:
        print("note: the signing key comes from EE_SIGNING_KEY, so it is not in EE_DATA_DIR and not archived; "
              "keep it in your secret store", file=sys.stderr)
        with_signing_key = False
    now = datetime.now(timezone.utc)
    target = _target(out, now)
    dsn, env = connection_for_tools(settings.database_url)
    work = Path(tempfile.mkdtemp(prefix=".effigies-backup-", dir=target.parent))
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        try:
            conn = psycopg.connect(libpq_url(settings.database_url), connect_timeout=10)
        except psycopg.Error as exc:
            raise OpsError(f"cannot connect to {describe(settings.database_url)}: {exc}") from None
        with conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            server = conn.info.server_version
            pg = find_bin(("pg_dump",), min_major=server // 10000, why=f"the server runs PostgreSQL {server // 10000}")
            dump = work / archive.DUMP
            print(f"dumping {describe(settings.database_url)} with pg_dump {pg.version} ...", file=sys.stderr)
            done = subprocess.run(
                [pg("pg_dump"), "--format=custom", f"--snapshot={snapshot}", f"--file={dump}", f"--dbname={dsn}"],
                env=env, capture_output=True, text=True,
            )
            if done.returncode != 0:
                raise OpsError(f"pg_dump failed (exit {done.returncode}):\n{done.stderr.strip()}")
            inventory = _inventory(conn)
            conn.rollback()

        plan, missing = _plan(data_dir, inventory, with_signing_key=with_signing_key, datasets=datasets)
        total = dump.stat().st_size + sum(_size(data_dir / rel) for rel, _ in plan)
        files: dict[str, dict[str, Any]] = {}
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # personal data: owner only
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar, \
                archive.progress_bar() as progress:
            task = progress.add_task("archiving", total=total)
            advance = lambda n: progress.advance(task, n)  # noqa: E731
            database = archive.add_file(tar, dump, archive.DUMP, advance)
            for rel, what in plan:
                try:
                    files[rel] = archive.add_file(tar, data_dir / rel, archive.DATA + rel, advance)
                except FileNotFoundError:  # deleted since it was listed: an expired candidate, a pruned checkpoint
                    if what is not None:
                        missing.append({"path": rel, "what": what})
            manifest = {
                "format": archive.FORMAT,
                "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "app_version": _app_version(),
                "alembic_revision": inventory["alembic_revision"],
                "postgres": {"server_version_num": server, "pg_dump_version": pg.version, "pg_dump_major": pg.major},
                "row_counts": inventory["row_counts"],
                "signing_keys": _signing_keys(),
                "signing_key_included": "signing-key.pem" in files,
                "datasets_included": datasets,
                "database": database,
                "files": files,
                "missing": missing,
            }
            body = archive.manifest_bytes(manifest)
            archive.add_bytes(tar, archive.MANIFEST, body, int(now.timestamp()))
            archive.add_bytes(tar, archive.MANIFEST_SUM, f"{hashlib.sha256(body).hexdigest()}  {archive.MANIFEST}\n".encode(),
                              int(now.timestamp()))
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        try:
            os.link(partial, target)  # unlike rename, never replaces an archive that is already there
        except FileExistsError:
            raise OpsError(f"{target} appeared while the backup ran: not replaced") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        partial.unlink(missing_ok=True)

    counts = inventory["row_counts"]
    print(f"backup written: {target} ({target.stat().st_size / 1e6:.1f} MB, {len(files)} files, "
          f"{counts.get('avatars', 0)} avatars, {counts.get('users', 0)} users, revision {inventory['alembic_revision']})")
    if missing:
        print(f"WARNING: {len(missing)} file(s) the database needs were missing and are not in the archive:",
              file=sys.stderr)
        for entry in missing[:20]:
            print(f"  {entry['what']}: {entry['path']}", file=sys.stderr)
        return INCOMPLETE
    return 0


def backup_command(out: Path, *, with_signing_key: bool = False, datasets: bool = True) -> int:
    try:
        return run_backup(out, with_signing_key=with_signing_key, datasets=datasets)
    except OpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
