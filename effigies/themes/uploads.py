"""An upload of example images -> a training set, or a report naming every file at fault.

Two sources, one validation (check_entries): a zip sent by the admin (process_archive, here)
and a folder built by `effigies dataset build` (effigies.themes.built_datasets). Pure
functions: no database, no web framework, nothing written to disk. Every source is distrusted
throughout: a zip's entry count and central directory are bounded before zipfile parses them,
every file is read through a running byte budget (claimed sizes are never believed), and every
image's dimensions are read from its header before a single pixel is decoded.

Transparency: an image keeps its alpha while it is checked; once the set is known, the upload
is RGBA when more than half of its kept images have a pixel that is not fully opaque (the
generator then draws alpha, nc=4), and every image is stored as an RGBA PNG; otherwise every
image is stored as RGB, the few transparent ones composited on white as before. One mode for the
whole set: a generator draws one kind of image, and a handful of cut-outs among photos (or the
reverse) should not make it learn a channel its set barely uses.

A pixel-grid theme (pixel_grid = 8, 16 or 32) takes only images drawn exactly on that grid
(effigies.themes.pixel_grid): each is stored as its cells enlarged to 64 px without smoothing;
JPEG is refused for such themes (its compression blurs cells), any other image off the grid
is refused by name.

Images at least 256 px on their short side also keep a 256 px version (effigies.themes.large_images),
from which the theme's upscaler learns; at most Limits.max_large_images of them, spread over the upload.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, ContextManager

import numpy as np
from PIL import Image, UnidentifiedImageError

from effigies.themes import large_images, upload_duplicates, upload_images
from effigies.themes import pixel_grid as grids
from effigies.uniqueness.fingerprint import fingerprint

# Pillow's decoders we accept; the rarer ones (PSD, TGA, EPS, ...) are attack surface nobody needs here.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
# Only these methods bound their output per read: zipfile hands bzip2/LZMA a whole compressed
# chunk at once, and a few KB of bzip2 can inflate to gigabytes before our budget sees them.
ALLOWED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".lz", ".lzma", ".cab", ".jar")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"Rar!", b"\x28\xb5\x2f\xfd")
# Left by archivers and file browsers; skipped (and listed) rather than refused.
SYSTEM_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}
# Written beside the images by `effigies dataset build` (scripts/build_dataset.py); skipped (and
# listed) so a built set, or a zip of one, is not refused for carrying its own licence.
DATASET_METADATA = {"dataset.json", "license.txt"}
SKIPPED_REASONS = ("system_file", "dataset_metadata")
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    # 200: twice DiffAugment's smallest few-shot sets (100 images, Zhao et al. 2020, with a far
    # stronger StyleGAN2), and above one training batch (128, effigies.gan.config), so a batch
    # is never the whole set; below that our DCGAN memorises its examples, which the sale filter
    # then refuses as near-copies.
    min_images: int = 200
    # The shipped themes trained on 10,000 images; more adds little at 64x64, and every usable
    # image is kept in memory as a ~8 KB PNG until the set is complete (~80 MB at the cap).
    max_entries: int = 10_000
    # Real images barely compress, so the decompressed total is about the upload's own size
    # (at most 200 MB, effigies.api.security); 512 MiB leaves room for BMPs and stored PNGs
    # while a deflate bomb (ratio up to ~1000:1) is stopped after reading half a gigabyte.
    max_total_bytes: int = 512 * 1024 * 1024
    # One 4096x4096 RGBA BMP is 64 MiB; nothing larger can pass the pixel limit anyway.
    max_entry_bytes: int = 64 * 1024 * 1024
    # 16 MP: a 16-bit RGBA image this large decodes to 128 MiB, the most one entry may cost.
    max_pixels: int = 4096 * 4096
    # Nothing useful survives upscaling from less than a quarter of the training size.
    min_side: int = 16
    # Near-identical = the same picture re-encoded or resized. Measured on 2,000 samples of each
    # shipped generator: JPEG re-encodings (quality 60-95, 64-256 px) moved the fingerprint up to
    # 16 bits and the 16x16 thumbnail by at most 2.5/255 on average, while the closest distinct
    # images were 4.3/255 apart. Recolours keep the fingerprint (brightness) but not the
    # thumbnail, so they stay: a recoloured example is a legitimate variation.
    duplicate_radius: int = 20
    duplicate_thumb_diff: float = 3.0
    max_name_length: int = 255
    # 256 px versions kept for the upscaler, in memory until the set is complete: up to ~256 KB
    # each, ~128 MiB at worst (flat art: tens). Its ~31k weights see 48k crops in 1,500 steps
    # (effigies.training.presets), ~90 of each of 512 images: more would each be seen less.
    max_large_images: int = 512


LIMITS = Limits()


@dataclass(frozen=True)
class Problem:
    """One line of the report: which entry, why (a stable code for the UI), and in words."""

    name: str
    reason: str
    message: str
    related: str = ""  # for a duplicate: the image it copies, which was kept

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason, "message": self.message, "related": self.related}


@dataclass(frozen=True)
class ProcessedImage:
    source: str
    png: bytes
    fingerprint: bytes  # of the white composite (effigies.uniqueness.fingerprint): the same in either mode
    transparent: bool = False  # some pixel of the 64 px image is not fully opaque
    large: bytes | None = None  # its 256 px version, same mode (effigies.themes.large_images)


@dataclass(frozen=True)
class Entry:
    """One file or folder of an upload, whatever holds it (a zip, a folder on disk)."""

    name: str  # its path inside the upload, "/"-separated, as the source spells it
    kind: str  # "file", "dir", or "special" (a link, a device, a pipe...)
    size: int  # what the source claims; never believed (see _read)
    open: Callable[[], ContextManager[BinaryIO]]
    problem: Problem | None = None  # refused by the source before any reading (zip: compression, encryption)


@dataclass
class Report:
    images: list[ProcessedImage] = field(default_factory=list)
    refused: list[Problem] = field(default_factory=list)  # any of these refuses the whole upload
    skipped: list[Problem] = field(default_factory=list)  # dropped, the upload may still be good
    # Set when the archive as a whole is refused (not a zip, too many entries, budget spent).
    fatal: Problem | None = None
    min_images: int = LIMITS.min_images
    source: str = "archive"  # or "folder": only the wording of messages differs
    transparent: bool = False  # the set is stored (and trained) as RGBA; decided once it is complete

    @property
    def large_images(self) -> int:
        return sum(i.large is not None for i in self.images)

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.refused and len(self.images) >= self.min_images


class _BudgetSpent(Exception):
    pass


# The 64 px image, and the decoded one when a 256 px version can be cut from it (else None).
Decoded = tuple[Image.Image, Image.Image | None]


def _display(name: str) -> str:
    # Names come from the archive: shown to the admin, so bounded and free of control characters.
    cleaned = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in name)
    return cleaned if len(cleaned) <= 200 else cleaned[:199] + "\N{HORIZONTAL ELLIPSIS}"


def _unsafe_path(name: str) -> str | None:
    if "\x00" in name:
        return "The name contains a NUL byte."
    # Archivers on Windows write backslashes; an extractor there would follow them.
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "Absolute paths are not allowed."
    if ".." in parts:
        return "Paths that climb out of the folder ('..') are not allowed."
    return None


def _is_link(info: zipfile.ZipInfo) -> bool:
    # Unix archivers keep the file mode in the high 16 bits; a link's target is its "content".
    # A mode without a type (0, or Python's bare 0o600) is a plain file; any type but file or folder is refused.
    return stat.S_IFMT(info.external_attr >> 16) not in (0, stat.S_IFREG, stat.S_IFDIR)


def _is_system_file(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    base = parts[-1]
    return "__MACOSX" in parts or base.lower() in SYSTEM_NAMES or base.startswith(".")


def _check_directory(archive: BinaryIO, limits: Limits) -> Problem | None:
    """Bound what zipfile would parse: it reads the whole central directory into ZipInfo
    objects before we can count them, ~0.5 KB of memory each."""
    try:
        record = zipfile._EndRecData(archive)  # noqa: SLF001 - the only reader of the end record
    except OSError:
        record = None
    if not record:
        return Problem("", "not_a_zip", "This file is not a zip archive.")
    entries, directory_size = record[zipfile._ECD_ENTRIES_TOTAL], record[zipfile._ECD_SIZE]
    if entries > limits.max_entries:
        return Problem("", "too_many_entries", f"The archive has {entries:,} entries; at most {limits.max_entries:,} are accepted.")
    # A central directory record is 46 bytes plus its name and extras; 1 KB each is generous.
    if directory_size > limits.max_entries * 1024:
        return Problem("", "too_many_entries", "The archive's table of contents is too large.")
    return None


def _decode(data: bytes, name: str, limits: Limits, *, pixel_art: bool, grid: int | None) -> Decoded | Problem:
    if data.startswith(ARCHIVE_MAGIC):
        return Problem(name, "nested_archive", "Archives inside the archive are not accepted.")
    # A native grid-8 sprite is 8x8: for a grid theme, its own grid is big enough.
    min_side = min(limits.min_side, grid) if grid else limits.min_side
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as probe:
            # Only the header has been read so far: refuse a pixel bomb before decoding it.
            w, h = probe.size
            if w * h > limits.max_pixels:
                return Problem(name, "too_many_pixels", f"{w}x{h} pixels is more than the {limits.max_pixels:,} allowed.")
            if min(w, h) < min_side:
                return Problem(name, "too_small", f"{w}x{h} pixels is too small (at least {min_side} per side).")
            if grid and probe.format == "JPEG":
                return Problem(name, "lossy_format", (
                    "JPEG cannot hold pixel art exactly (its compression blurs colours across cells): "
                    f"send PNG, GIF, BMP or lossless WebP for a {grid}x{grid} grid."
                ))
            probe.verify()
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            if image.format == "JPEG":
                large = large_images.eligible((w, h), pixel_art=pixel_art, grid=grid)
                size = large_images.LARGE_SIZE if large else upload_images.IMAGE_SIZE
                image.draft("RGB", (size, size))  # decode at 1/2..1/8 scale (never below size): faster
            image.load()
            decoded = upload_images.with_alpha(image)
    except Image.DecompressionBombError:
        return Problem(name, "too_many_pixels", f"More pixels than the {limits.max_pixels:,} allowed.")
    except UnidentifiedImageError:
        return Problem(name, "not_an_image", "Not an image (PNG, JPEG, WebP, GIF or BMP).")
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow reports damaged files as any of these (truncated data, bad CRC, bad header).
        return Problem(name, "corrupt", f"The image could not be decoded: {str(exc)[:120]}")
    result = upload_images.squared(decoded, pixel_art=pixel_art, grid=grid)
    if isinstance(result, grids.OffGrid):
        return Problem(name, "off_grid", result.message(grid))
    return result, decoded if large_images.eligible(decoded.size, pixel_art=pixel_art, grid=grid) else None


def _drop_duplicates(report: Report, thumbs: list[np.ndarray], limits: Limits) -> None:
    """Keep the first of each group of near-identical images (name order), list the others."""
    found = upload_duplicates.copies([i.fingerprint for i in report.images], thumbs,
                                     radius=limits.duplicate_radius, thumb_diff=limits.duplicate_thumb_diff)
    for image, of in zip(report.images, found):
        if of is not None:
            original = report.images[of].source
            report.skipped.append(Problem(image.source, "duplicate", f"Nearly identical to {original}.", original))
    report.images = [image for image, of in zip(report.images, found) if of is None]


def _zip_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Entry:
    kind = "special" if _is_link(info) else "dir" if info.is_dir() else "file"
    problem = None
    if info.compress_type not in ALLOWED_COMPRESSION:
        problem = Problem(_display(info.filename), "unsupported_compression",
                          "Only stored or deflated entries are accepted (the usual zip).")
    elif info.flag_bits & 0x1:
        problem = Problem(_display(info.filename), "encrypted", "Encrypted entries are not accepted.")
    return Entry(info.filename, kind, info.file_size, functools.partial(zf.open, info), problem)


def process_archive(
    archive: BinaryIO, *, pixel_art: bool = False, pixel_grid: int | None = None, limits: Limits = LIMITS
) -> Report:
    """Read a seekable zip file and return every usable image (64x64 PNG, in name order) with a
    report; `report.ok` says whether the upload can become a training set."""
    report = Report(min_images=limits.min_images)
    report.fatal = _check_directory(archive, limits)
    if report.fatal:
        return report
    try:
        archive.seek(0)
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        report.fatal = Problem("", "not_a_zip", f"The zip archive could not be read: {str(exc)[:120]}")
        return report
    with zf:
        entries = [_zip_entry(zf, info) for info in zf.infolist()]
        return check_entries(report, entries, pixel_art=pixel_art, pixel_grid=pixel_grid, limits=limits)


def _check_entry(entry: Entry, limits: Limits) -> Problem | None:
    """What can be decided from the entry's name, type and claims alone, before reading any of it."""
    name = _display(entry.name)
    if len(entry.name) > limits.max_name_length:
        return Problem(name, "unsafe_path", f"The name is longer than {limits.max_name_length} characters.")
    reason = _unsafe_path(entry.name)
    if reason:
        return Problem(name, "unsafe_path", reason)
    if entry.kind == "special":
        return Problem(name, "link", "Links and other special files are not accepted.")
    if entry.kind == "dir":
        return None
    if _is_system_file(entry.name):
        return Problem(name, "system_file", "A file left by the operating system; ignored.")
    if posixpath.basename(entry.name.replace("\\", "/")).lower() in DATASET_METADATA:
        return Problem(name, "dataset_metadata", "The description or licence written by `effigies dataset build`; not a training image.")
    if posixpath.splitext(entry.name.lower())[1] in ARCHIVE_SUFFIXES:
        return Problem(name, "nested_archive", "Archives inside the archive are not accepted.")
    if entry.problem is not None:
        return entry.problem
    # A claimed size above the cap is refused at once; one below it proves nothing (see _read).
    if entry.size > limits.max_entry_bytes:
        return Problem(name, "too_large", f"Larger than {limits.max_entry_bytes // 2**20} MiB.")
    return None


def _read(entry: Entry, limits: Limits, spent: list[int]) -> bytes | None:
    """The entry's bytes, or None once it passes the per-entry cap. Raises _BudgetSpent when the
    upload's running total passes its cap. Counts what is read (out of the decompressor, for a
    zip), never what the source claimed."""
    out = bytearray()
    with entry.open() as stream:
        while chunk := stream.read(_READ_CHUNK):
            spent[0] += len(chunk)
            if spent[0] > limits.max_total_bytes:
                raise _BudgetSpent
            out += chunk
            if len(out) > limits.max_entry_bytes:
                return None
    return bytes(out)


def check_entries(
    report: Report, entries: list[Entry], *, pixel_art: bool = False, pixel_grid: int | None = None,
    limits: Limits = LIMITS,
) -> Report:
    """The one validation every upload goes through, whatever holds its files: each entry in
    name order is checked, read under the caps, decoded under the pixel limit (and checked
    against ``pixel_grid``, when given) and re-encoded; then near-duplicates are dropped and the
    set's mode (RGB or RGBA) is settled. Fills and returns `report`."""
    thumbs: list[np.ndarray] = []
    spent = [0]
    spread = large_images.Spread(limits.max_large_images)
    for entry in sorted(entries, key=lambda e: e.name):
        problem = _check_entry(entry, limits)
        if problem is not None:
            (report.skipped if problem.reason in SKIPPED_REASONS else report.refused).append(problem)
            continue
        if entry.kind == "dir":
            continue
        name = _display(entry.name)
        try:
            data = _read(entry, limits, spent)
        except _BudgetSpent:
            what = "The archive decompresses" if report.source == "archive" else "The folder's files add up"
            report.fatal = Problem(
                name, "archive_too_large",
                f"{what} to more than {limits.max_total_bytes // 2**20:,} MiB; nothing was kept.",
            )
            return report
        except RuntimeError:  # zipfile's word for an encrypted member
            report.refused.append(Problem(name, "encrypted", "Encrypted entries are not accepted."))
            continue
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            report.refused.append(Problem(name, "corrupt", f"This entry is damaged or unreadable: {str(exc)[:120]}"))
            continue
        if data is None:
            report.refused.append(Problem(name, "too_large", f"Larger than {limits.max_entry_bytes // 2**20} MiB."))
            continue
        decoded = _decode(data, name, limits, pixel_art=pixel_art, grid=pixel_grid)
        if isinstance(decoded, Problem):
            report.refused.append(decoded)
            continue
        decoded, full = decoded
        large = large_images.keep(spread, report.images, full)  # before the append: it is the next one
        report.images.append(ProcessedImage(
            source=name, png=upload_images.png_bytes(decoded), fingerprint=fingerprint(decoded),
            transparent=decoded.mode == "RGBA", large=large,
        ))
        thumbs.append(upload_images.thumb(decoded))
    _drop_duplicates(report, thumbs, limits)
    if report.ok:
        _settle_mode(report)
    return report


def _settle_mode(report: Report) -> None:
    """RGBA when most kept images have transparency (see the module's docstring); the images of
    the other mode are re-encoded in the set's. Fingerprints stay: they read the white composite,
    which either conversion leaves as it was."""
    report.transparent = 2 * sum(i.transparent for i in report.images) > len(report.images)
    for index, image in enumerate(report.images):
        if image.transparent != report.transparent:
            png = upload_images.in_mode(image.png, rgba=report.transparent)
            large = None if image.large is None else upload_images.in_mode(image.large, rgba=report.transparent)
            report.images[index] = dataclasses.replace(image, png=png, large=large)
