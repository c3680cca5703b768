"""Public variants of an avatar: any size from 16 to 1024 px, as PNG, WebP or JPEG, from its master.

Pure imaging (Pillow only): no database, no files. Every variant is a resize of the 256 px master
(effigies.generation.master), never of the 64 px original, so sizes agree with each other and with
what a future trained upscaler makes of the original.

Filters:
- drawings: Lanczos both ways (Pillow widens the kernel when reducing, so it averages like an
  area filter and does not alias).
- pixel art: nearest neighbour when the size is a whole multiple of the 64 px design (64, 128,
  192, ... 1024): each design pixel becomes a k x k block of exactly its colour. Any other size
  larger than 64 is drawn nearest at the next multiple of 64 above, then area-averaged (box)
  down to the size ("sharp" scaling): blocks keep hard edges, only the seam between two design
  pixels may blend over one output pixel, instead of nearest's uneven 2- and 3-pixel blocks.
  Below 64 px (16-63) box as well: each output pixel is the mean of the design pixels it covers,
  so a one-pixel eye or outline fades rather than vanishing at random, as nearest would drop it.
Transparency is kept in PNG and WebP; JPEG has none, so it is flattened on white, the background
the uniqueness fingerprints already read (effigies.gan.alpha.COMPOSITE_BACKGROUND).

Encoder effort, from CPU measurements on this 2-core machine (scripts/bench_avatar_url.py prints
them): up to 256 px the better settings cost at most ~20 ms; above, the fastest ones keep a cold
1024 px variant within the 100 ms budget (smooth RGB PNG at 1024 px: 38 ms at zlib level 1 for
450 kB, 132 ms at level 6 for 340 kB, 900 ms with optimize=True). WebP is lossy (quality 90) for
drawings and lossless for pixel art, whose block edges lossy WebP's halved chroma would smear.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from effigies.generation.master import MASTER_SIZE, SOURCE_SIZE
from effigies.gan.alpha import COMPOSITE_BACKGROUND
from effigies.uniqueness.fingerprint import has_alpha

MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 16, 1024, 256
SIZE_RANGE = f"{MIN_SIZE}–{MAX_SIZE}"
# Up to here the encoders' better settings; above, their fastest (see the module's docstring).
SMALL = 256


@dataclass(frozen=True)
class Format:
    ext: str
    media_type: bytes


FORMATS = {f.ext: f for f in (Format("png", b"image/png"), Format("webp", b"image/webp"), Format("jpg", b"image/jpeg"))}
FORMAT_LIST = ", ".join(f".{ext}" for ext in FORMATS)


def parse_size(value: str) -> int | None:
    """``?s=`` as an int in MIN_SIZE..MAX_SIZE, or None for anything else (ASCII digits only)."""
    if not (value.isascii() and value.isdigit() and len(value) <= 4):
        return None
    size = int(value)
    return size if MIN_SIZE <= size <= MAX_SIZE else None


def scale(master: Image.Image, size: int, *, pixel_art: bool) -> Image.Image:
    """The master at ``size`` px (see the module's docstring for the filters)."""
    if size == master.width:
        return master
    target = (size, size)
    if not pixel_art:
        return master.resize(target, Image.Resampling.LANCZOS)
    if size % SOURCE_SIZE == 0:
        # Exact: the master's blocks are 4x4, so nearest lands every output pixel in its design pixel.
        return master.resize(target, Image.Resampling.NEAREST)
    if size > SOURCE_SIZE:
        above = -(-size // SOURCE_SIZE) * SOURCE_SIZE
        master = master.resize((above, above), Image.Resampling.NEAREST)
    return master.resize(target, Image.Resampling.BOX)


def encode(image: Image.Image, ext: str, *, pixel_art: bool) -> bytes:
    """``image`` as a file of format ``ext`` ("png", "webp" or "jpg")."""
    small = image.width <= SMALL
    buffer = io.BytesIO()
    if ext == "png":
        image.save(buffer, format="PNG", compress_level=6 if small else 1)
    elif ext == "webp":
        if pixel_art:
            image.save(buffer, format="WEBP", lossless=True, quality=100, method=0)
        else:
            # alpha_quality 80 above SMALL: lossless alpha doubled a 1024 px RGBA encode (71 -> 43 ms).
            image.save(buffer, format="WEBP", quality=90, method=4 if small else 0, alpha_quality=100 if small else 80)
    elif ext == "jpg":
        flat = image.convert("RGB")
        if has_alpha(image):  # Pillow's compositing: 3 ms at 1024 px, the numpy one of fingerprints 40
            flat = Image.alpha_composite(Image.new("RGBA", image.size, (*COMPOSITE_BACKGROUND, 255)), image).convert("RGB")
        # 4:4:4 for pixel art: 4:2:0 would bleed each block's colour into its neighbours.
        flat.save(buffer, format="JPEG", quality=90, subsampling=0 if pixel_art else 2)
    else:
        raise ValueError(f"unknown format {ext!r}")
    return buffer.getvalue()


def render(master: Image.Image, *, size: int, ext: str, pixel_art: bool) -> bytes:
    if not (MIN_SIZE <= size <= MAX_SIZE) or master.width != MASTER_SIZE:
        raise ValueError(f"size {size} from a {master.width} px master")
    return encode(scale(master, size, pixel_art=pixel_art), ext, pixel_art=pixel_art)
