"""The public avatar images on disk: each avatar's master, the variants worth keeping, the rest drawn.

    images/avatars/<public_id>/master.png     the 256 px master (effigies.generation.master)
    images/avatars/<public_id>/<size>.<ext>   variants at DISK_SIZES

The master is made on the first request for any variant of the avatar, not in the purchase: the
purchase transaction holds the fingerprint's locks and should not wait on imaging, avatars sold
before masters existed need the same path anyway, and the first request comes at once (the theme
page shows the bought avatar). It carries the theme's pixel-art flag in a PNG text chunk, so once
it exists no variant of that avatar needs the database.

Only DISK_SIZES are kept on disk: the sizes people are offered (and those served before any size
was allowed, whose files are still there). Any other size is drawn from the master when no API
process has it in memory: walking ?s= through 16-1024 in three formats would otherwise leave
~200 MB of files per avatar (mostly the large PNGs), while a drawn variant costs at most ~100 ms
of one core, bounded per process by effigies.avatars.public's render slots. Sold images never
change, so every file here is derived and rebuilt on demand (backups leave this folder out).
"""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import select
from sqlalchemy.orm import Session

from effigies.avatars import variants
from effigies.generation.master import make_master
from effigies.avatars.models import Avatar
from effigies.avatars.service import PUBLIC_ID, AvatarsError
from effigies.config import get_settings
from effigies.themes.models import ModelVersion, Theme
from effigies.themes.service import resolve_weights_dir

# The fixed list served until any size was allowed, and the platform sizes "My avatars" offers
# (frontend/js/views/avatars.js: Discord 128, Steam 184, Google 250, X 400, GitHub 460, Slack 512, 1024).
DISK_SIZES = frozenset({32, 48, 64, 96, 128, 256, 512} | {184, 250, 400, 460, 1024})
MASTER_FILE = "master.png"
PIXEL_ART_KEY = "effigies-pixel-art"  # the master's text chunk: "1" for a pixel-art theme


def avatar_dir(public_id: str) -> Path:
    if not PUBLIC_ID.match(public_id):  # it becomes part of a file path
        raise AvatarsError("avatar_not_found", "No such avatar.", status=404)
    return get_settings().images_dir / "avatars" / public_id


def variant_path(public_id: str, size: int, ext: str) -> Path:
    return avatar_dir(public_id) / f"{size}.{ext}"


def cached_variant(*, public_id: str, size: int, ext: str) -> bytes | None:
    """The variant's file, when its size is one kept on disk and it was drawn before."""
    if size not in DISK_SIZES:
        return None
    try:
        return variant_path(public_id, size, ext).read_bytes()
    except FileNotFoundError:
        return None


def render_variant(*, session: Session, public_id: str, size: int, ext: str) -> bytes:
    """Draws the variant from the master (made first when missing); keeps it when in DISK_SIZES.
    The database is asked only for a master not made yet (the session opens no connection before)."""
    if ext not in variants.FORMATS or variants.parse_size(str(size)) != size:
        raise AvatarsError("invalid_variant", f"Sizes are {variants.SIZE_RANGE} px, formats {variants.FORMAT_LIST}.", status=422)
    master, pixel_art = master_image(session=session, public_id=public_id)
    data = variants.render(master, size=size, ext=ext, pixel_art=pixel_art)
    if size in DISK_SIZES:
        _write(variant_path(public_id, size, ext), data)
    return data


def scaled_image(*, session: Session, public_id: str, size: int, ext: str = "png") -> bytes:
    """The variant's bytes, from disk or drawn: what GET /a/{public_id}.{ext}?s={size} serves."""
    cached = cached_variant(public_id=public_id, size=size, ext=ext)
    return cached if cached is not None else render_variant(session=session, public_id=public_id, size=size, ext=ext)


def has_master(public_id: str) -> bool:
    return (avatar_dir(public_id) / MASTER_FILE).is_file()


def master_image(*, session: Session, public_id: str) -> tuple[Image.Image, bool]:
    """(the avatar's master, pixel art?), made and kept the first time it is asked for."""
    path = avatar_dir(public_id) / MASTER_FILE
    found = _read_master(path)
    if found is not None:
        return found
    # Any avatar ever sold: neither a retired theme nor a deleted owner takes it off the web.
    row = session.execute(
        select(Avatar.image_path, Theme.pixel_art, ModelVersion.weights_dir)
        .join(Theme, Avatar.theme_id == Theme.id)
        .join(ModelVersion, Avatar.model_version_id == ModelVersion.id)
        .where(Avatar.public_id == public_id)
    ).first()
    if row is None:
        raise AvatarsError("avatar_not_found", "No such avatar.", status=404)
    image_path, pixel_art, weights_dir = row
    # One master made at a time per process (~6 ms): the first requests for a new avatar's
    # sizes, arriving together, make it once; the lookup above stays concurrent.
    with _making:
        found = _read_master(path)
        if found is not None:
            return found
        with Image.open(get_settings().images_dir / image_path) as source:
            master = make_master(source, pixel_art=pixel_art, weights_dir=resolve_weights_dir(weights_dir))
        info = PngInfo()
        info.add_text(PIXEL_ART_KEY, "1" if pixel_art else "0")
        buffer = io.BytesIO()
        # Level 1: a private file read back once per drawn variant; 4.5 ms instead of 15 at level 6.
        master.save(buffer, format="PNG", compress_level=1, pnginfo=info)
        # Another process may be writing the same bytes: each renames a whole file into place.
        _write(path, buffer.getvalue())
    return master, pixel_art


_making = threading.Lock()


def _read_master(path: Path) -> tuple[Image.Image, bool] | None:
    try:
        with Image.open(path) as image:
            image.load()
            return image, image.info.get(PIXEL_ART_KEY) == "1"
    except FileNotFoundError:
        return None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Private per process and thread, then renamed: a concurrent reader sees the whole file or none.
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
