"""GET /avatar/{hash}: Gravatar's and Libravatar's parameters, and the pictures that answer a miss.

Pure (Pillow only): effigies.avatars.public answers the URL, effigies.avatars.service looks the
hash up. A hash is the MD5 (Gravatar) or SHA-256 (Libravatar) hex of the trimmed, lower-cased
address, optionally followed by .png, .jpg or .webp (PNG without one). Parameters, with Gravatar's
names and meanings (the long form is Libravatar's):
- s / size: 16-1024 px (variants.MIN_SIZE..MAX_SIZE), 80 without it. Gravatar serves 1-2048 and
  falls back to 80 outside; here a size outside the range is a 422 `invalid_size`, as at /a/.
- d / default: what a hash that answers with no avatar gets: 404 (a JSON 404), mp (a silhouette;
  mm is Gravatar's old name for it), identicon, retro, blank (transparent), monsterid, wavatar,
  robohash (the last three: our identicon), or an http(s) URL, redirected to (302). Without d:
  mp. Every drawing is made from the hash alone, never from an unsold GAN sample.
- f / forcedefault: y answers d's picture even for a linked address.
- r / rating: accepted and ignored: every avatar sold here is rated g.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from PIL import Image, ImageDraw

from effigies.avatars import variants

DEFAULT_SIZE = 80  # Gravatar's
MAX_URL = 1024  # characters of a d=URL: longer is refused, as Gravatar refuses its long ones
DRAWN = ("mp", "identicon", "retro", "blank")
# Gravatar's other generated styles: answered with our identicon, drawn from the hash.
AS_IDENTICON = ("monsterid", "wavatar", "robohash")
KEYWORDS = ("404", *DRAWN, *AS_IDENTICON)
ALIASES = {"mm": "mp"}
EXTS = {"": "png", "png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp"}
RATINGS = ("g", "pg", "r", "x")

SIZE_MESSAGE = (f"Size must be a whole number of pixels from {variants.MIN_SIZE} to {variants.MAX_SIZE} "
                f"({variants.SIZE_RANGE}), as in ?s=128; without ?s= it is {DEFAULT_SIZE}.")
FORMAT_MESSAGE = ("An address's avatar is /avatar/HASH (a PNG), /avatar/HASH.png, .jpg or .webp, "
                  "HASH the MD5 or SHA-256 hex of the trimmed, lower-cased address.")
HASH_MESSAGE = "The hash must be 32 (MD5) or 64 (SHA-256) hexadecimal characters, of the trimmed, lower-cased address."
DEFAULT_MESSAGE = (f"d= is one of {', '.join(KEYWORDS)} or an http:// or https:// URL of at most {MAX_URL} "
                   "characters (printable ASCII, as URL-encoded).")


class BadLookup(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Lookup:
    digest: str  # lower-case hex, 32 or 64 characters
    ext: str  # a key of variants.FORMATS
    size: int
    default: str  # a keyword of KEYWORDS, or "url"
    redirect: str | None  # d's URL when default is "url"
    force_default: bool


def parse(tail: str, query: str) -> Lookup:
    """The request /avatar/{tail}?{query}, or BadLookup saying what is wrong with it."""
    digest, _, ext = tail.partition(".")
    if ext.lower() not in EXTS or (not ext and tail.endswith(".")):
        raise BadLookup(404, "unknown_format", FORMAT_MESSAGE)
    digest = digest.lower()
    if len(digest) not in (32, 64) or any(c not in "0123456789abcdef" for c in digest):
        raise BadLookup(422, "invalid_hash", HASH_MESSAGE)
    size: int | None = DEFAULT_SIZE
    default, redirect, force = "mp", None, False
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in ("s", "size"):
            size = variants.parse_size(value)
        elif name in ("d", "default"):
            default, redirect = _default(value)
        elif name in ("f", "forcedefault"):
            force = value.lower() in ("y", "yes", "1", "true")
        # r / rating: every avatar here is rated g, so any rating asked for shows it.
    if size is None:
        raise BadLookup(422, "invalid_size", SIZE_MESSAGE)
    return Lookup(digest, EXTS[ext.lower()], size, default, redirect, force)


def _default(value: str) -> tuple[str, str | None]:
    keyword = ALIASES.get(value.lower(), value.lower())
    if keyword in KEYWORDS:
        return keyword, None
    if len(value) > MAX_URL or not value.isascii() or any(not 0x21 <= ord(c) <= 0x7E for c in value):
        raise BadLookup(422, "invalid_default", DEFAULT_MESSAGE)
    try:
        parts = urlsplit(value)
    except ValueError:
        raise BadLookup(422, "invalid_default", DEFAULT_MESSAGE) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadLookup(422, "invalid_default", DEFAULT_MESSAGE)
    return "url", value


class HashBudget:
    """Lookups of one hash per minute (a fixed window), per API process: far above what one
    address's picture costs (browsers and CDNs keep each answer 5 minutes), so only a flood of
    one hash is refused. It applies to every hash alike, linked or not: a refusal tells nothing.
    Bounded memory: the `tracked` hashes seen last; one pushed out starts again from zero."""

    def __init__(self, per_minute: int, tracked: int = 100_000) -> None:
        self.per_minute, self.tracked = per_minute, tracked
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()  # digest -> (minute, lookups)

    def allow(self, digest: str, now: float) -> float | None:
        """None when this lookup may go on, else the seconds until the hash's next window."""
        minute = int(now // 60)
        window, count = self._counts.pop(digest, (minute, 0))
        if window != minute:
            count = 0
        self._counts[digest] = (minute, count + 1)
        while len(self._counts) > self.tracked:
            self._counts.popitem(last=False)
        return None if count < self.per_minute else 60 - now % 60


# The drawings: a 64 px design, each design pixel a 4x4 block of a 256 px master, scaled and
# encoded like pixel-art avatars (effigies.avatars.variants), so every size stays crisp.
DESIGN = 64
BACKGROUND = (240, 240, 240, 255)


def draw(style: str, digest: str, *, size: int, ext: str) -> bytes:
    """The picture for a miss with d=``style`` (a keyword of DRAWN or AS_IDENTICON)."""
    if style in AS_IDENTICON:
        style = "identicon"
    design = {"mp": _mystery_person, "identicon": _identicon, "retro": _retro, "blank": _blank}[style](digest)
    master = design.resize((DESIGN * 4, DESIGN * 4), Image.Resampling.NEAREST)
    return variants.render(master, size=size, ext=ext, pixel_art=True)


def _blank(_: str) -> Image.Image:
    return Image.new("RGBA", (DESIGN, DESIGN), (0, 0, 0, 0))


def _mystery_person(_: str) -> Image.Image:
    image = Image.new("RGBA", (DESIGN, DESIGN), (197, 197, 197, 255))
    pen = ImageDraw.Draw(image)
    pen.ellipse((22, 12, 42, 34), fill=(255, 255, 255, 255))  # head
    pen.ellipse((10, 38, 54, 80), fill=(255, 255, 255, 255))  # shoulders, cut by the frame
    return image


def _colour(seed: bytes) -> tuple[int, int, int, int]:
    # A saturated, mid-light colour from the hash: readable on the light background.
    hue = int.from_bytes(seed[:2], "big") % 360
    image = Image.new("HSV", (1, 1), (hue * 255 // 360, 150 + seed[2] % 80, 150 + seed[3] % 70))
    return (*image.convert("RGB").getpixel((0, 0)), 255)


def _grid(digest: str, cells: int, cell: int) -> Image.Image:
    """cells x cells, mirrored left to right, cells chosen by the hash's bits."""
    seed = hashlib.sha256(bytes.fromhex(digest)).digest()  # the same spread for MD5 and SHA-256 inputs
    bits = int.from_bytes(seed[4:], "big")
    margin = (DESIGN - cells * cell) // 2
    image = Image.new("RGBA", (DESIGN, DESIGN), BACKGROUND)
    pen, colour = ImageDraw.Draw(image), _colour(seed)
    half = (cells + 1) // 2
    for row in range(cells):
        for col in range(half):
            if bits >> (row * half + col) & 1:
                for x in (col, cells - 1 - col):
                    left, top = margin + x * cell, margin + row * cell
                    pen.rectangle((left, top, left + cell - 1, top + cell - 1), fill=colour)
    return image


def _identicon(digest: str) -> Image.Image:
    return _grid(digest, 5, 12)


def _retro(digest: str) -> Image.Image:
    return _grid(digest, 8, 8)

