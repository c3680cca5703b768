"""The backup file: a plain (uncompressed) tar, written front to back and read front to back.

    database.dump          pg_dump custom format (already compressed)
    data/<path>            files of EE_DATA_DIR, <path> relative to it (PNGs: already compressed)
    manifest.json          what the archive holds, with the SHA-256 and size of every member
    manifest.json.sha256   the SHA-256 of manifest.json

The manifest comes last because it holds the hashes of what precedes it; that also makes a cut
short archive detectable (no manifest, or members missing from it). Restore never trusts a
member it has not hashed: it unpacks into a staging folder while hashing, and compares.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from effigies.ops.pgtools import OpsError

FORMAT = "effigies-backup/1"
DUMP = "database.dump"
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.json.sha256"
DATA = "data/"
REQUIRED = {"created_at": str, "app_version": str, "alembic_revision": (str, type(None)), "postgres": dict,
            "row_counts": dict, "signing_keys": list, "database": dict, "files": dict}
# Exit status of `effigies restore` for an archive that is unreadable, altered or not ours.
BAD_ARCHIVE = 4
_CHUNK = 1 << 20


class HashingReader:
    """Reads exactly `size` bytes of `raw` (a file that may still grow), hashing as it goes."""

    def __init__(self, raw: BinaryIO, size: int, progress: Callable[[int], None] | None = None) -> None:
        self.raw, self.left, self.progress = raw, size, progress
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.raw.read(n)
        self.left -= len(data)
        self.sha256.update(data)
        if self.progress is not None:
            self.progress(len(data))
        return data


def add_file(tar: tarfile.TarFile, source: Path, name: str, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Append `source` as `name`; returns its {sha256, size}. The size is taken once the file is
    open: a file replaced meanwhile (os.replace) is read whole from the old inode, one appended
    to meanwhile (stats.jsonl) is cut at that size."""
    with open(source, "rb") as raw:
        st = os.fstat(raw.fileno())
        size = st.st_size
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, stat.S_IMODE(st.st_mode) & 0o755, int(st.st_mtime)
        reader = HashingReader(raw, size, progress)
        tar.addfile(info, reader)
    return {"sha256": reader.sha256.hexdigest(), "size": size}


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, mtime
    tar.addfile(info, io.BytesIO(data))


def progress_bar():
    """Bytes done / to do, on stderr (stdout stays for the result line)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True))


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _safe_name(name: str) -> str | None:
    """The member's path when it is one of ours and stays inside the staging folder; else None."""
    if name in (DUMP, MANIFEST, MANIFEST_SUM):
        return name
    if not name.startswith(DATA) or "\\" in name or "\x00" in name:
        return None
    normal = posixpath.normpath(name)
    if normal != name or normal.startswith("/") or ".." in normal.split("/") or normal == DATA.rstrip("/"):
        return None
    return name


def _bad(message: str) -> OpsError:
    return OpsError(message, BAD_ARCHIVE)


def unpack_and_verify(archive: Path, staging: Path, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Unpack `archive` into `staging` (empty, ours) and return its manifest, or raise OpsError(4)
    naming the first member that is missing, unexpected, or not byte for byte what was backed up."""
    seen: dict[str, dict[str, Any]] = {}
    modes: dict[str, int] = {}
    try:
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                name = _safe_name(member.name)
                if name is None:
                    raise _bad(f"unexpected member {member.name!r}: not an effigies backup, or altered")
                if not member.isreg():
                    raise _bad(f"member {member.name!r} is not a regular file")
                if name in seen:
                    raise _bad(f"member {member.name!r} appears twice")
                dest = staging / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                reader = HashingReader(source, member.size, progress)
                # Private until it is known to be intact; then the mode it had (a key file: 0600 always).
                with os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                    while chunk := reader.read(_CHUNK):
                        out.write(chunk)
                modes[name] = 0o600 if name in (DUMP, DATA + "signing-key.pem") else member.mode & 0o755
                if reader.left:
                    raise _bad(f"member {member.name!r} is cut short")
                seen[name] = {"sha256": reader.sha256.hexdigest(), "size": member.size}
    except (tarfile.TarError, EOFError) as exc:
        raise _bad(f"{archive} is not a readable tar archive: {exc}") from None
    except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
        raise _bad(f"members of {archive} overlap ({exc.filename}): not an effigies backup, or altered") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename == str(archive):
            raise _bad(f"no such archive: {archive}") from None
        raise

    for required in (MANIFEST, MANIFEST_SUM):
        if required not in seen:
            raise _bad(f"{archive} has no {required}: it is cut short or not an effigies backup")
    expected_sum = (staging / MANIFEST_SUM).read_text(encoding="ascii", errors="replace").split()[0:1]
    if expected_sum != [seen[MANIFEST]["sha256"]]:
        raise _bad("manifest.json does not match its checksum: the archive was altered or damaged")
    try:
        manifest = json.loads((staging / MANIFEST).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"manifest.json is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _bad(f"not an {FORMAT} archive (format {manifest.get('format') if isinstance(manifest, dict) else '?'})")

    try:
        for key, kind in REQUIRED.items():
            if not isinstance(manifest[key], kind):
                raise TypeError(key)
        int(manifest["postgres"]["pg_dump_major"])
        expected = {DUMP: manifest["database"], **{DATA + path: entry for path, entry in manifest["files"].items()}}
        for name, entry in expected.items():
            if not isinstance(entry, dict) or not {"sha256", "size"} <= entry.keys():
                raise KeyError(f"the checksum of {name}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad(f"manifest.json lacks or misstates {exc}") from None
    actual = {name: entry for name, entry in seen.items() if name not in (MANIFEST, MANIFEST_SUM)}
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            raise _bad(f"{name} is listed in the manifest but missing from the archive")
        if name not in expected:
            raise _bad(f"{name} is in the archive but not in its manifest")
        if actual[name]["sha256"] != expected[name]["sha256"] or actual[name]["size"] != expected[name]["size"]:
            raise _bad(f"{name} does not match its checksum: the archive was altered or damaged")
    for name, mode in modes.items():
        os.chmod(staging / name, mode)
    return manifest
