"""Zips for the upload tests, good and hostile, built in memory (or a temp file for the bomb)."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path
from unittest import mock

from PIL import Image

SHIPPED = Path(__file__).resolve().parents[2] / "effigies" / "themes" / "pretrained"


@lru_cache
def generated_pngs(count: int = 220, slug: str = "pixel-heroes", seed: int = 20261125) -> tuple[bytes, ...]:
    """Fresh samples of a shipped generator as PNG files: distinct images, as an admin would upload."""
    from effigies.gan.checkpoint import load_generator
    from effigies.gan.sample import latents, sample

    generator, config = load_generator(SHIPPED / slug, device="cpu")
    out = []
    for array in sample(generator, latents(count, config.nz, seed=seed)):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return tuple(out)


def encode(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


@lru_cache
def grid_pngs(count: int = 220, grid: int = 16) -> tuple[bytes, ...]:
    """Pixel art drawn on a ``grid`` x ``grid`` grid, as small native sprites (one pixel per cell):
    a smooth generator's samples box-filtered down to the grid (Pixel heroes draws 16x16 itself, so
    its samples would sit on every coarser grid too)."""
    return tuple(
        encode(Image.open(io.BytesIO(data)).resize((grid, grid), Image.Resampling.BOX))
        for data in generated_pngs(count, slug="arcane-sigils")  # an opaque smooth theme
    )


@lru_cache
def transparent_pngs(count: int = 220) -> tuple[bytes, ...]:
    """Round cut-outs: the shipped generator's samples, transparent outside a disc (an anti-aliased
    edge, so some alpha is partial) and with a colour left under alpha 0 that must not count."""
    import numpy as np

    yy, xx = np.mgrid[:64, :64]
    radius = np.hypot(yy - 31.5, xx - 31.5)
    alpha = (np.clip(30.0 - radius, 0.0, 1.0) * 255).round().astype(np.uint8)
    out = []
    for data in generated_pngs(count):
        rgba = np.dstack([np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), alpha])
        out.append(encode(Image.fromarray(rgba, "RGBA")))
    return tuple(out)


def png(size=(64, 64), mode="RGB", color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png(side: int = 10_000) -> bytes:
    """100 megapixels in ~15 KB: a 1-bit image of one colour deflates to almost nothing."""
    buffer = io.BytesIO()
    Image.new("1", (side, side), 0).save(buffer, format="PNG")
    return buffer.getvalue()


def symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the high 16 bits of external_attr are the file mode
    info.external_attr = (0o120777 << 16)
    return info, target.encode()


def build_zip(entries, *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """entries: (name or ZipInfo, bytes) pairs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buffer.getvalue()


def good_entries(count: int = 220) -> list[tuple[str, bytes]]:
    return [(f"examples/hero-{i:03d}.png", data) for i, data in enumerate(generated_pngs()[:count])]


def grid_entries(count: int = 220) -> list[tuple[str, bytes]]:
    """A good upload for a 16-cell pixel-grid theme: native 16x16 sprites."""
    return [(f"sprites/hero-{i:03d}.png", data) for i, data in enumerate(grid_pngs()[:count])]


def transparent_entries(count: int = 220) -> list[tuple[str, bytes]]:
    return [(f"cutouts/hero-{i:03d}.png", data) for i, data in enumerate(transparent_pngs()[:count])]


class _ReplayDeflate:
    """Deflates 1 MiB blocks of zeros by replaying one block's output: after a full flush the
    compressor forgets its history, so every later block compresses to the same bytes. zlib
    itself takes 10+ s for a gigabyte on a busy 2-core machine; this takes a CRC's time."""

    def __init__(self) -> None:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        self._first = c.compress(ZEROS) + c.flush(zlib.Z_FULL_FLUSH)
        self._steady = c.compress(ZEROS) + c.flush(zlib.Z_FULL_FLUSH)
        self._end = c.flush()
        self._started = False

    def compress(self, data: bytes) -> bytes:
        assert data == ZEROS
        out = self._steady if self._started else self._first
        self._started = True
        return out

    def flush(self) -> bytes:
        return self._end


ZEROS = bytes(1 << 20)


def bomb_zip(path: Path, *, decompressed: int = 1 << 30, extra=()) -> Path:
    """One entry of `decompressed` zero bytes in ~1 MB (deflate's ratio is ~1000:1), written as
    a stream: the test never holds the gigabyte. Its header tells the truth; see the unit tests
    for one that lies."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in extra:
            zf.writestr(name, data)
        info = zipfile.ZipInfo("bomb.png")
        info.compress_type = zipfile.ZIP_DEFLATED
        with mock.patch.object(zipfile, "_get_compressor", lambda *a, **k: _ReplayDeflate()):
            with zf.open(info, "w", force_zip64=True) as member:
                for _ in range(decompressed // len(ZEROS)):
                    member.write(ZEROS)
    return path


def understate_size(data: bytes, name: str, declared: int) -> bytes:
    """The zip with `name`'s uncompressed size rewritten in both its headers (no zip64): what a
    hostile archiver would send to slip past a check of the header."""
    out = bytearray(data)
    encoded = name.encode()
    for signature, size_offset, name_offset in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = 0
        while (at := out.find(signature, at)) != -1:
            length = struct.unpack_from("<H", out, at + 28 if signature == b"PK\x01\x02" else at + 26)[0]
            if bytes(out[at + name_offset : at + name_offset + length]) == encoded:
                struct.pack_into("<I", out, at + size_offset, declared)
            at += 4
    return bytes(out)


def stored_nothing(stack, slug: str) -> None:
    """A refused theme left no row, no dataset folder and no half-written upload folder."""
    from sqlalchemy import func, select

    from effigies.db import session_scope
    from effigies.themes.models import Theme

    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Theme).where(Theme.slug == slug)) == 0
    datasets = stack.data_dir / "datasets"
    assert not (datasets / slug).exists()
    assert not list(datasets.glob(f".upload-{slug}-*")) if datasets.exists() else True


@lru_cache
def shape_pngs(count: int = 220, *, large: int = 80, seed: int = 7) -> tuple[bytes, ...]:
    """Coloured shapes on plain backgrounds, drawn with hard edges: the first ``large`` images at
    256-320 px (non-square too, so the centre crop matters), the others at 64-200 px."""
    import numpy as np
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    colour = lambda: tuple(int(c) for c in rng.integers(0, 256, 3))  # noqa: E731
    out = []
    for i in range(count):
        side = int(rng.integers(256, 321)) if i < large else int(rng.integers(64, 201))
        size = (side + int(rng.integers(0, 40)), side) if i % 3 == 0 else (side, side)
        image = Image.new("RGB", size, colour())
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(2, 5))):
            x0, y0 = (int(v) for v in rng.integers(0, side // 2, 2))
            x1, y1 = x0 + int(rng.integers(side // 6, side // 2)), y0 + int(rng.integers(side // 6, side // 2))
            shape = int(rng.integers(0, 3))
            if shape == 0:
                draw.ellipse((x0, y0, x1, y1), fill=colour(), outline=colour(), width=max(1, side // 40))
            elif shape == 1:
                draw.rectangle((x0, y0, x1, y1), fill=colour())
            else:
                draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=colour())
        out.append(encode(image))
    return tuple(out)


def shape_entries(count: int = 220, *, large: int = 80) -> list[tuple[str, bytes]]:
    return [(f"shapes/shape-{i:03d}.png", data) for i, data in enumerate(shape_pngs(count, large=large))]
