"""Training sets built by `effigies dataset build`, offered by the admin's "New theme" form.

A built set is a folder directly under EE_BUILT_DATASETS_DIR, named like a theme (a slug). It is
trusted no more than an upload: its files become entries of effigies.themes.uploads.check_entries,
the very checks a zip's entries go through. Nothing below the configured folder is reached through
a symbolic link: every sub-folder and file is opened relative to its parent's descriptor with
O_NOFOLLOW, so a link cannot bring in a file from elsewhere, even one swapped in after the
folder was listed. Links found while listing are reported by name, as in a zip.
"""
from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from effigies.config import get_settings
from effigies.themes import uploads
from effigies.themes.service import ThemesError, is_slug

# The form lists this many at most (each is counted up to the upload's entry cap).
MAX_LISTED = 100
# What the listing counts as an image, by name only (decoding is the upload check's job).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a pipe swapped in for a file after the listing cannot hang the open.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def root() -> Path:
    """The configured folder; a relative setting is taken from the current directory, where
    `effigies dataset build` writes."""
    return (Path.cwd() / get_settings().built_datasets_dir).resolve()


def resolve(name: object) -> Path:
    """The folder of the built set called `name`, or ThemesError: only a plain folder name (a
    slug: no '/', no '..') of a real folder (not a link) directly under root()."""
    if not isinstance(name, str) or not is_slug(name):
        raise ThemesError(
            "invalid_dataset_name",
            "A built dataset is named by its folder: 3-64 lowercase letters, digits and hyphens.", status=422,
        )
    path = root() / name
    try:
        is_folder = stat.S_ISDIR(os.lstat(path).st_mode)  # lstat: a link is not a folder
    except OSError:
        is_folder = False
    if not is_folder:
        raise ThemesError("dataset_not_found", f"No built dataset called {name!r} in {root()}.", status=404)
    return path


def _open_beneath(root_fd: int, parts: tuple[str, ...], *, directory: bool) -> int:
    """A new descriptor for root/parts..., opening one component at a time without following
    a link at any step (ELOOP instead)."""
    fd = root_fd
    try:
        for i, part in enumerate(parts):
            flags = _DIR_FLAGS if directory or i < len(parts) - 1 else _FILE_FLAGS
            child = os.open(part, flags, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = child
    except BaseException:
        if fd != root_fd:
            os.close(fd)
        raise
    return os.dup(root_fd) if fd == root_fd else fd


@contextlib.contextmanager
def _open_file(root_fd: int, parts: tuple[str, ...]) -> Iterator[BinaryIO]:
    fd = _open_beneath(root_fd, parts, directory=False)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as stream:
        yield stream


def _walk(root_fd: int, limits: uploads.Limits) -> Iterator[tuple[tuple[str, ...], str, int]]:
    """(path parts, kind, size) of everything below the folder, links included but never
    followed. Folders whose path is already longer than an entry name may be are not entered:
    everything in them would be refused by name anyway."""
    pending: list[tuple[str, ...]] = [()]
    while pending:
        parts = pending.pop()
        try:
            fd = _open_beneath(root_fd, parts, directory=True)
        except OSError:
            continue  # gone, or replaced by a link since it was listed: nothing of it is read
        try:
            with os.scandir(fd) as listing:
                for item in listing:
                    path = (*parts, item.name)
                    try:
                        info = item.stat(follow_symlinks=False)
                        mode, size = info.st_mode, info.st_size
                    except OSError:  # vanished: listed as a file, reading it says what happened
                        mode, size = stat.S_IFREG, 0
                    kind = "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "special"
                    yield path, kind, size
                    if kind == "dir" and len("/".join(path)) <= limits.max_name_length:
                        pending.append(path)
        finally:
            os.close(fd)


def _open_root(path: Path, name: str) -> int:
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError:
        raise ThemesError("dataset_not_found", f"No built dataset called {name!r} in {root()}.", status=404) from None


def process(
    name: str, *, pixel_art: bool = False, pixel_grid: int | None = None, limits: uploads.Limits = uploads.LIMITS
) -> uploads.Report:
    """The built set `name` through the upload checks: its usable images and the report."""
    root_fd = _open_root(resolve(name), name)
    report = uploads.Report(min_images=limits.min_images, source="folder")
    try:
        entries: list[uploads.Entry] = []
        with contextlib.closing(_walk(root_fd, limits)) as walk:
            for parts, kind, size in walk:
                if len(entries) == limits.max_entries:
                    report.fatal = uploads.Problem(
                        "", "too_many_entries", f"The folder has more than {limits.max_entries:,} entries."
                    )
                    return report
                opener = lambda parts=parts: _open_file(root_fd, parts)  # noqa: E731 - bound per entry
                entries.append(uploads.Entry("/".join(parts), kind, size, opener))
        return uploads.check_entries(report, entries, pixel_art=pixel_art, pixel_grid=pixel_grid, limits=limits)
    finally:
        os.close(root_fd)


def summary(name: str, limits: uploads.Limits = uploads.LIMITS) -> dict[str, int | bool]:
    """What the form shows of a built set, from names and sizes alone (nothing is decoded):
    files with an image suffix, all regular files' bytes, and whether counting stopped at the
    upload's entry cap (such a set would be refused)."""
    root_fd = _open_root(resolve(name), name)
    images = size = seen = 0
    try:
        with contextlib.closing(_walk(root_fd, limits)) as walk:
            for parts, kind, entry_size in walk:
                seen += 1
                if seen > limits.max_entries:
                    return {"images": images, "bytes": size, "capped": True}
                if kind == "file":
                    size += entry_size
                    images += parts[-1].lower().endswith(IMAGE_SUFFIXES)
    finally:
        os.close(root_fd)
    return {"images": images, "bytes": size, "capped": False}


def names() -> list[str]:
    """Folders directly under root() that could be a built set (slug names, no links), by name."""
    try:
        with os.scandir(root()) as listing:
            return sorted(item.name for item in listing if is_slug(item.name) and item.is_dir(follow_symlinks=False))
    except OSError:  # not there yet: nothing was built
        return []
