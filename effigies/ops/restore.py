"""`effigies restore ARCHIVE [--force]`: check everything first, then replace.

1. Unpack into a staging folder inside EE_DATA_DIR while hashing every member; any mismatch with
   the manifest (one changed byte), a missing or extra member, or an unknown migration revision
   stops here, exit 4, with nothing changed but the staging folder removed.
2. Refuse (exit 3) a database or data folder that already holds something, unless --force.
3. The database in ONE transaction: pg_restore writes SQL, psql runs it with --single-transaction
   behind a `DROP SCHEMA public CASCADE` (with --force) and ahead of a check that every table has
   the manifest's row count. Any error rolls all of it back: the old database stays whole.
4. The files: renames from the staging folder (same file system), the replaced ones removed last.
5. Signing keys: every public key the archive lists that is not this installation's current key is
   kept as a retired key, so each certificate issued before the backup still verifies.
6. `effigies db upgrade` when the archive's migration revision is older than this version's.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from effigies.ops import archive
from effigies.ops.pgtools import OpsError, PgBin, connection_for_tools, describe, find_bin, libpq_url

NOT_EMPTY = 3  # exit status: the target holds data and --force was not given
# What a restore replaces in EE_DATA_DIR; the rest (embedded servers, logs) is left alone.
MANAGED = ("images", "models", "datasets", "training", "signing-keys-retired", "signing-key.pem")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _has_content(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def _database_objects(conn) -> int:  # noqa: ANN001
    return conn.execute(
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f'))"
        "     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public')"
    ).fetchone()[0]


def _check_revision(revision: str | None) -> str:
    """This version's head; refuses an archive from a newer version (its schema is unknown here)."""
    from alembic.script import ScriptDirectory

    from effigies.cli import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config())
    if revision is not None:
        try:
            script.get_revision(revision)
        except Exception:  # alembic raises several kinds for an unknown id
            raise OpsError(
                f"the archive's database is at migration {revision!r}, which this version of effigies does not know: "
                "restore it with the version that made it (manifest.json: app_version) or a newer one",
                archive.BAD_ARCHIVE,
            ) from None
    return script.get_current_head()


def _count_check(row_counts: dict[str, int]) -> str:
    """PL/pgSQL run last inside the restore transaction: a table with another row count aborts it."""
    lines = ["DO $effigies_check$", "DECLARE n bigint;", "BEGIN", "  NULL;"]
    for table, count in sorted(row_counts.items()):
        if not _TABLE.match(table):
            raise OpsError(f"manifest names an odd table {table!r}", archive.BAD_ARCHIVE)
        lines.append(
            f'  SELECT count(*) INTO n FROM public."{table}"; IF n <> {int(count)} THEN '
            f"RAISE EXCEPTION 'restored table {table} has % rows, the manifest says {int(count)}', n; END IF;"
        )
    lines += ["END $effigies_check$;", ""]
    return "\n".join(lines)


def _restore_database(pg: PgBin, dump: Path, url: str, manifest: dict[str, Any], *, server_major: int, drop: bool) -> None:
    dsn, env = connection_for_tools(url)
    check = _count_check(manifest["row_counts"])
    prelude = "SET client_min_messages = warning;\nSET lock_timeout = '60s';\n"
    if drop:
        prelude += "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        producer = subprocess.Popen([pg("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(dump)],
                                    stdout=subprocess.PIPE, stderr=restore_err, env=env)
        consumer = subprocess.Popen(
            [pg("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--file=-", f"--dbname={dsn}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=env,
        )
        try:
            consumer.stdin.write(prelude.encode())
            # Only the script's header holds session settings.
            for _ in range(200):
                line = producer.stdout.readline()
                if not line:
                    break
                if server_major < 17 and line.strip() == b"SET transaction_timeout = 0;":
                    continue  # pg_restore 17+ always writes it; older servers reject the setting
                consumer.stdin.write(line)
            shutil.copyfileobj(producer.stdout, consumer.stdin, 1 << 20)
            # A pg_restore that died part way wrote a shorter script that psql would happily commit
            # (say, data without its indexes): its exit status decides before the transaction ends.
            if producer.wait() != 0:
                consumer.stdin.write(b"DO $$ BEGIN RAISE EXCEPTION 'pg_restore failed: rolling back'; END $$;\n")
            else:
                consumer.stdin.write(check.encode())
            consumer.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped at an error: its message follows
        finally:
            producer.stdout.close()
        restore_rc, psql_rc = producer.wait(), consumer.wait()
        psql_err.seek(0)
        restore_err.seek(0)
        if psql_rc != 0 or restore_rc != 0:
            # Either may come second: psql stops at an error and pg_restore then writes into a closed
            # pipe, or pg_restore fails and the transaction is aborted on purpose (above).
            said = [f"psql: {psql_err.read().decode(errors='replace').strip()}" if psql_rc else "",
                    f"pg_restore (exit {restore_rc}): {restore_err.read().decode(errors='replace').strip()}"
                    if restore_rc else ""]
            raise OpsError("restoring the database failed; it was rolled back, nothing changed:\n"
                           + "\n".join(m for m in said if m))


def _swap_files(staged: Path, data_dir: Path, graveyard: Path) -> int:
    """Move the staged entries into place; what they replace goes to `graveyard` (removed by the caller)."""
    from effigies.certificates import keys

    moved = 0
    for entry in sorted(staged.iterdir()) if staged.is_dir() else []:
        target = data_dir / entry.name
        if entry.name == keys.RETIRED_DIR:
            # Merged, not replaced: keys retired here verify certificates too.
            target.mkdir(exist_ok=True)
            for pem in entry.iterdir():
                shutil.copy2(pem, target / pem.name)
            continue
        if target.name == "signing-key.pem" and target.is_file():
            keys.retire(keys.parse_private_key(target.read_text()).public_key())
        if target.exists():
            graveyard.mkdir(exist_ok=True)
            target.rename(graveyard / entry.name)
        entry.rename(target)
        moved += sum(1 for p in target.rglob("*") if p.is_file()) if target.is_dir() else 1
    return moved


def _retire_archived_keys(manifest: dict[str, Any]) -> list[str]:
    from effigies.certificates import keys

    current = {k.id for k in keys.public_keys(create=False) if k.status == "current"}
    retired = []
    for entry in manifest.get("signing_keys", []):
        public = keys.parse_public_key(entry["public_key"])
        if keys.key_id(public) not in current:
            keys.retire(public)
            retired.append(keys.key_id(public))
    return retired


def run_restore(archive_path: Path, *, force: bool = False) -> int:
    import psycopg

    from effigies.config import get_settings

    settings = get_settings()
    if not settings.database_url:
        raise OpsError("DATABASE_URL is not set: which database should be restored into?")
    if not archive_path.is_file():
        raise OpsError(f"no such archive: {archive_path}", archive.BAD_ARCHIVE)
    data_dir = settings.data_dir.resolve()
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Staged inside the data folder: on its file system, so that putting files in place is a rename.
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    graveyard = staging / "replaced"
    done = False
    try:
        with archive.progress_bar() as progress:
            task = progress.add_task("verifying", total=archive_path.stat().st_size)
            manifest = archive.unpack_and_verify(archive_path, staging / "archive", lambda n: progress.advance(task, n))
        print(f"archive verified: {len(manifest['files'])} files and the database dump match their SHA-256 "
              f"(made {manifest['created_at']} by effigies {manifest['app_version']})", file=sys.stderr)
        head = _check_revision(manifest["alembic_revision"])

        try:
            conn = psycopg.connect(libpq_url(settings.database_url), autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise OpsError(f"cannot connect to {describe(settings.database_url)}: {exc}") from None
        with conn:
            objects = _database_objects(conn)
            server_major = conn.info.server_version // 10000
            others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND pid <> pg_backend_pid()").fetchone()[0]
        busy = [name for name in MANAGED if _has_content(data_dir / name)]
        if (objects or busy) and not force:
            where = ([f"database {describe(settings.database_url)} has {objects} tables/functions"] if objects else []) \
                + ([f"{data_dir} has {', '.join(busy)}"] if busy else [])
            raise OpsError(f"refusing to overwrite: {'; '.join(where)}. Restore into an empty database and data "
                           "folder, or pass --force to replace them", NOT_EMPTY)
        if others:
            print(f"warning: {others} other session(s) are connected to the database: stop the api and the workers "
                  "during a restore (they wait up to 60 s for locks, then the restore gives up)", file=sys.stderr)

        dump_major = int(manifest["postgres"]["pg_dump_major"])
        pg = find_bin(("pg_restore", "psql"), min_major=dump_major, why=f"the archive was written by pg_dump {dump_major}")
        print(f"restoring the database into {describe(settings.database_url)} with pg_restore {pg.version} ...",
              file=sys.stderr)
        _restore_database(pg, staging / "archive" / archive.DUMP, settings.database_url, manifest,
                          server_major=server_major, drop=bool(objects))
        restored = _swap_files(staging / "archive" / "data", data_dir, graveyard)
        retired = _retire_archived_keys(manifest)
        done = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not done and not any(data_dir.iterdir()):
            data_dir.rmdir()  # refused or failed: leave no trace

    revision = manifest["alembic_revision"]
    print(f"restored: database at migration {revision}, {restored} files into {data_dir}"
          + (f", {len(retired)} archived signing key(s) kept as retired keys" if retired else ""))
    if revision != head:
        print(f"the archive is at migration {revision}, this version at {head}: upgrading")
        from effigies import cli

        cli.cmd_db_upgrade(None)
    print("restart the api and every worker now (they cache images and database connections)")
    return 0


def restore_command(archive_path: Path, *, force: bool = False) -> int:
    try:
        return run_restore(archive_path, force=force)
    except OpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
