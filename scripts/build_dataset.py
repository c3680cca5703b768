#!/usr/bin/env python3
"""Build a theme's training set: 64x64 RGB PNGs + ``dataset.json`` + ``LICENSE.txt``.

One builder for every theme::

    python scripts/build_dataset.py NAME --out DIR [--count N] [--seed S]

``NAME`` is one of:

``galactic-droids``  DiceBear "bottts" (``scripts/datasets/bottts``), avatars from seeds
                     ``"<seed>-<i>"`` on white, ``bottts_000000.png`` ... (10,000 by default).
``pixel-heroes``     DiceBear "pixel-art" (``scripts/datasets/pixel-art``), seeds ``"<seed>-<i>"``,
                     16x16 pixel grid rendered at 4x (crisp), solid background from a palette,
                     ``pixel_000000.png`` ... (10,000 by default).
``emoji-folk``       face emojis (Unicode "Smileys & Emotion" face subgroups) from five iconify
                     sets (``scripts/datasets/emoji``), 8 variants each (pastel background,
                     80-95 % scale, small offset): ``emoji_<set>_<name>_<variant>.png``.
``arcane-sigils``    game-icons.net silhouettes (``scripts/datasets/game-icons``) recoloured as
                     glowing sigils on dark backgrounds, 3 variants each:
                     ``sigil_<name>_<variant>.png``.

Reproducible: the SVG sources are the exact npm versions pinned in each folder's
``package.json`` + ``package-lock.json`` (installed with ``npm ci --ignore-scripts`` when
``node_modules`` is missing), ``render.mjs`` streams them as JSON lines, and every choice
(colours, scale, offset) is a pure function of the theme, seed, icon and variant (SHA-256, no
global RNG). ``dataset.json`` records the versions, the count and the SHA-256 over all PNG
bytes in file-name order.

Node.js (>= 18) + npm are needed only here; the application never needs them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
DEFAULT_SIZE = 64


class BuildError(SystemExit):
    """A problem the user can fix (missing node/npm, bad arguments)."""


# ---------------------------------------------------------------------------------------------
# Deterministic choices (no global RNG: a SHA-256 of the parts, so they never depend on
# Python's random module, hash seed or iteration order).


def stable_int(*parts: object) -> int:
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


def stable_unit(*parts: object) -> float:
    """A float in [0, 1) determined by ``parts``."""
    return stable_int(*parts) / 2.0**64


def stable_choice(options: list | tuple, *parts: object):
    return options[stable_int(*parts) % len(options)]


def sanitize(name: str) -> str:
    """File-name-safe slug: lowercase ``[a-z0-9-]``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"


# ---------------------------------------------------------------------------------------------
# Node side: install the pinned packages, stream JSON lines from render.mjs.


def ensure_node_modules(package_dir: Path, packages: Iterable[str]) -> None:
    """Install the pinned npm packages with ``npm ci`` when any is missing."""
    if all((package_dir / "node_modules" / p / "package.json").exists() for p in packages):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("error: npm not found: install Node.js >= 18 (with npm) to build datasets")
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=package_dir, check=True)


def package_versions(package_dir: Path, packages: Iterable[str]) -> dict[str, str]:
    versions = {}
    for name in packages:
        meta = json.loads((package_dir / "node_modules" / name / "package.json").read_text(encoding="utf-8"))
        versions[name] = meta["version"]
    return versions


def iter_node_records(package_dir: Path, args: list[str]) -> Iterator[dict]:
    """Run ``node render.mjs ARGS`` in ``package_dir`` and yield its JSON lines."""
    node = shutil.which("node")
    if node is None:
        raise BuildError("error: node not found: install Node.js >= 18 to build datasets")
    proc = subprocess.Popen(
        [node, "render.mjs", *args], cwd=package_dir, stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.strip():
                yield json.loads(line)
    finally:
        proc.stdout.close()
        rc = proc.wait()
    if rc != 0:
        raise BuildError(f"error: {package_dir.name}/render.mjs failed with exit code {rc}")


def iter_svgs(count: int, seed: str, package_dir: Path) -> Iterator[tuple[int, str, str]]:
    """Yield ``(index, seed_string, svg)`` from a DiceBear renderer, streaming."""
    for rec in iter_node_records(package_dir, ["--count", str(count), "--seed", str(seed)]):
        yield rec["index"], rec["seed"], rec["svg"]


# ---------------------------------------------------------------------------------------------
# Python side: rasterise.


def render_png(svg: str, size: int, background: str | None, *, alpha: bool = False) -> bytes:
    """Rasterise one SVG to a PNG of ``size`` x ``size`` pixels.

    ``background`` fills the canvas (resvg); ``None`` keeps the SVG's own background. With
    ``alpha`` the PNG is RGBA and keeps what is transparent (the avatar is delivered with its
    alpha); otherwise any transparency left is flattened onto white (never black).
    """
    import resvg_py
    from PIL import Image

    raw = resvg_py.svg_to_bytes(
        svg_string=svg, width=size, height=size, background=background, skip_system_fonts=True
    )
    img = Image.open(io.BytesIO(bytes(raw)))
    if alpha:
        img = img.convert("RGBA")
    elif img.mode != "RGB":
        # Safety net: flatten any remaining alpha onto the background colour.
        bg = Image.new("RGB", img.size, background or "#ffffff")
        img = img.convert("RGBA")
        bg.paste(img, mask=img.getchannel("A"))
        img = bg
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def iconify_inner(rec: dict, x: float, y: float, w: float, h: float, body: str | None = None) -> str:
    """An iconify icon record placed as a nested ``<svg>`` at (x, y) with size w x h."""
    left, top, width, height = rec.get("left", 0), rec.get("top", 0), rec["width"], rec["height"]
    body = rec["body"] if body is None else body
    rotate, hflip, vflip = rec.get("rotate", 0) % 4, rec.get("hFlip", False), rec.get("vFlip", False)
    if rotate or hflip or vflip:
        cx, cy = left + width / 2, top + height / 2
        sx, sy = (-1 if hflip else 1), (-1 if vflip else 1)
        body = (
            f'<g transform="translate({_num(cx)} {_num(cy)}) rotate({90 * rotate}) '
            f'scale({sx} {sy}) translate({_num(-cx)} {_num(-cy)})">{body}</g>'
        )
    return (
        f'<svg x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" '
        f'viewBox="{_num(left)} {_num(top)} {_num(width)} {_num(height)}">{body}</svg>'
    )


SVG_OPEN = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'width="{s}" height="{s}" viewBox="0 0 {s} {s}">'
)


def license_text(spdx: str, package_dir: Path) -> str:
    """Full licence text from the pinned ``spdx-license-list`` npm package."""
    path = package_dir / "node_modules" / "spdx-license-list" / "licenses" / f"{spdx}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["licenseText"].strip() + "\n"


# ---------------------------------------------------------------------------------------------
# Themes.


@dataclass
class Item:
    filename: str
    make_png: Callable[[], bytes]


@dataclass
class Plan:
    """What a theme will write: items (in file-name order) + manifest extras + licence text."""

    items: list[Item] | Iterator[Item]
    total: int
    manifest: dict = field(default_factory=dict)
    license_txt: Callable[[int], str] = lambda count: ""


@dataclass(frozen=True)
class Theme:
    name: str
    title: str
    package_dir: str
    packages: tuple[str, ...]
    prefix: str
    attribution: str
    license: tuple[str, ...]
    plan: Callable[[Theme, argparse.Namespace, dict[str, str]], Plan]
    default_count: int | None = None

    @property
    def path(self) -> Path:
        return DATASETS_DIR / self.package_dir


# --- galactic-droids --------------------------------------------------------------------------

BOTTTS_LICENSE = """\
Galactic droids training set
============================

Generated by scripts/build_dataset.py galactic-droids from the DiceBear "bottts" avatar
style (@dicebear/bottts {bottts_version}, @dicebear/core {core_version}),
{count} images, seed prefix "{seed}", {size}x{size} px, background: {background}.
Changes: SVGs rasterised to {size}x{size} PNG; nothing else.

Design: "Bottts" by Pablo Stanley (https://bottts.com/).
Design license (from the package's LICENSE file, "Design" section):
{design_license}

DiceBear code: MIT License, Copyright (c) Florian Koerner (https://www.dicebear.com/).

Full license text shipped with the npm package:
------------------------------------------------------------------------------
{full_license}
"""


def plan_bottts(theme: Theme, args: argparse.Namespace, versions: dict[str, str]) -> Plan:
    background = args.background  # None: transparent, the droid alone (delivered with its alpha)
    items = (
        Item(f"bottts_{index:06d}.png", lambda svg=svg: render_png(svg, args.size, background, alpha=background is None))
        for index, _seed, svg in iter_svgs(args.count, args.seed, theme.path)
    )

    def license_txt(count: int) -> str:
        full = (theme.path / "node_modules" / "@dicebear" / "bottts" / "LICENSE").read_text(encoding="utf-8")
        design = "  Free for personal and commercial use (https://bottts.com/)"
        for line in full.splitlines():
            if line.startswith("License:"):
                design = "  " + line.split(":", 1)[1].strip()
                break
        return BOTTTS_LICENSE.format(
            bottts_version=versions["@dicebear/bottts"], core_version=versions["@dicebear/core"],
            count=count, seed=args.seed, size=args.size,
            background=background or "none (RGBA, transparent)",
            design_license=design, full_license=full,
        )

    return Plan(
        items=items, total=args.count, license_txt=license_txt,
        manifest={"source": "DiceBear bottts", "seed": args.seed, "background": background,
                  "channels": 3 if background else 4},
    )


# --- pixel-heroes -----------------------------------------------------------------------------

# Solid backgrounds for the pixel heroes: mid-tone colours that keep skin, hair and clothes
# readable (no beige/peach that would merge with skin, no white/black).
PIXEL_BACKGROUNDS = (
    "#8ecae6",  # sky blue
    "#5fa8d3",  # steel blue
    "#2a9d8f",  # teal
    "#84a59d",  # sage
    "#b5e48c",  # light green
    "#cdb4db",  # lavender
    "#9d8df1",  # periwinkle
    "#ffafcc",  # pink
    "#f28482",  # coral
    "#e9c46a",  # mustard
    "#f4a261",  # sandy orange
    "#a8dadc",  # powder blue
)
PIXEL_GRID = 16  # DiceBear pixel-art draws on a 16x16 grid


def pixel_background(seed: str, index: int) -> str:
    return stable_choice(PIXEL_BACKGROUNDS, "pixel-heroes", "background", f"{seed}-{index}")


PIXEL_LICENSE = """\
Pixel heroes training set
=========================

Generated by scripts/build_dataset.py pixel-heroes from the DiceBear "pixel-art" avatar
style (@dicebear/pixel-art {style_version}, @dicebear/core {core_version}),
{count} images from seeds "{seed}-<i>", {size}x{size} px.

Source design: "Pixel Art" by DiceBear (https://www.dicebear.com/styles/pixel-art/,
  Figma: https://www.figma.com/community/file/1198754108850888330).
Design license (from the package's LICENSE file, "Design" section):
  {design_license}
DiceBear code: MIT License, Copyright (c) 2024 Florian Körner (https://www.dicebear.com/).

Changes: each SVG (16x16 pixel grid, crisp edges) is rasterised at an exact multiple of the grid
({size}x{size} px, no smoothing) onto a solid background colour picked deterministically
from the avatar's seed out of this palette: {palette}.

Full license text shipped with the npm package @dicebear/pixel-art:
------------------------------------------------------------------------------
{full_license}
"""


def render_pixel_png(svg: str, size: int, background: str) -> bytes:
    """Render a pixel-art SVG so every grid cell stays a crisp block of pixels."""
    from PIL import Image

    if size % PIXEL_GRID == 0:
        return render_png(svg, size, background)
    # Not a grid multiple: render at the next multiple and downscale with NEAREST.
    big = PIXEL_GRID * -(-size // PIXEL_GRID)
    img = Image.open(io.BytesIO(render_png(svg, big, background))).resize((size, size), Image.Resampling.NEAREST)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def plan_pixel(theme: Theme, args: argparse.Namespace, versions: dict[str, str]) -> Plan:
    items = (
        Item(
            f"pixel_{index:06d}.png",
            lambda svg=svg, index=index: render_pixel_png(svg, args.size, pixel_background(args.seed, index)),
        )
        for index, _seed, svg in iter_svgs(args.count, args.seed, theme.path)
    )

    def license_txt(count: int) -> str:
        full = (theme.path / "node_modules" / "@dicebear" / "pixel-art" / "LICENSE").read_text(encoding="utf-8")
        design = "CC0 1.0 (https://creativecommons.org/publicdomain/zero/1.0/)"
        for line in full.splitlines():
            if line.startswith("License:"):
                design = line.split(":", 1)[1].strip()
                break
        return PIXEL_LICENSE.format(
            style_version=versions["@dicebear/pixel-art"], core_version=versions["@dicebear/core"],
            count=count, seed=args.seed, size=args.size, design_license=design,
            palette=", ".join(PIXEL_BACKGROUNDS), full_license=full,
        )

    return Plan(
        items=items, total=args.count, license_txt=license_txt,
        manifest={
            "source": "DiceBear pixel-art",
            "seed": args.seed,
            "backgrounds": list(PIXEL_BACKGROUNDS),
            "rendering": f"{PIXEL_GRID}x{PIXEL_GRID} grid at an integer multiple, crisp edges",
        },
    )


# --- emoji-folk -------------------------------------------------------------------------------

# CLDR short names (as iconify spells them) of the Unicode "Smileys & Emotion" face subgroups.
FACE_SUBGROUPS: dict[str, tuple[str, ...]] = {
    "face-smiling": (
        "grinning-face", "grinning-face-with-big-eyes", "grinning-face-with-smiling-eyes",
        "beaming-face-with-smiling-eyes", "grinning-squinting-face", "grinning-face-with-sweat",
        "rolling-on-the-floor-laughing", "face-with-tears-of-joy", "slightly-smiling-face",
        "upside-down-face", "melting-face", "winking-face", "smiling-face-with-smiling-eyes",
        "smiling-face-with-halo",
    ),
    "face-affection": (
        "smiling-face-with-hearts", "smiling-face-with-heart-eyes", "star-struck", "face-blowing-a-kiss",
        "kissing-face", "smiling-face", "kissing-face-with-closed-eyes", "kissing-face-with-smiling-eyes",
        "smiling-face-with-tear",
    ),
    "face-tongue": (
        "face-savoring-food", "face-with-tongue", "winking-face-with-tongue", "zany-face",
        "squinting-face-with-tongue", "money-mouth-face",
    ),
    "face-hand": (
        "smiling-face-with-open-hands", "face-with-hand-over-mouth", "face-with-open-eyes-and-hand-over-mouth",
        "face-with-peeking-eye", "shushing-face", "thinking-face", "saluting-face",
    ),
    "face-neutral-skeptical": (
        "zipper-mouth-face", "face-with-raised-eyebrow", "neutral-face", "expressionless-face",
        "face-without-mouth", "dotted-line-face", "face-in-clouds", "smirking-face", "unamused-face",
        "face-with-rolling-eyes", "grimacing-face", "face-exhaling", "lying-face", "shaking-face",
        "head-shaking-horizontally", "head-shaking-vertically",
    ),
    "face-sleepy": (
        "relieved-face", "pensive-face", "sleepy-face", "drooling-face", "sleeping-face",
        "face-with-bags-under-eyes",
    ),
    "face-unwell": (
        "face-with-medical-mask", "face-with-thermometer", "face-with-head-bandage", "nauseated-face",
        "face-vomiting", "sneezing-face", "hot-face", "cold-face", "woozy-face", "face-with-crossed-out-eyes",
        "face-with-spiral-eyes", "exploding-head",
    ),
    "face-hat": ("cowboy-hat-face", "partying-face", "disguised-face"),
    "face-glasses": ("smiling-face-with-sunglasses", "nerd-face", "face-with-monocle"),
    "face-concerned": (
        "confused-face", "face-with-diagonal-mouth", "worried-face", "slightly-frowning-face", "frowning-face",
        "face-with-open-mouth", "hushed-face", "astonished-face", "flushed-face", "pleading-face",
        "face-holding-back-tears", "frowning-face-with-open-mouth", "anguished-face", "fearful-face",
        "anxious-face-with-sweat", "sad-but-relieved-face", "crying-face", "loudly-crying-face",
        "face-screaming-in-fear", "confounded-face", "persevering-face", "disappointed-face",
        "downcast-face-with-sweat", "weary-face", "tired-face", "yawning-face", "distorted-face",
    ),
    "face-negative": (
        "face-with-steam-from-nose", "enraged-face", "angry-face", "face-with-symbols-on-mouth",
        "smiling-face-with-horns", "angry-face-with-horns", "skull", "skull-and-crossbones",
    ),
    "face-costume": ("pile-of-poo", "clown-face", "ogre", "goblin", "ghost", "alien", "alien-monster", "robot"),
}
FACE_NAMES: frozenset[str] = frozenset(n for names in FACE_SUBGROUPS.values() for n in names)

# Older or alternative names some sets use -> the CLDR name above.
FACE_ALIASES: dict[str, str] = {
    "hugging-face": "smiling-face-with-open-hands",
    "dizzy-face": "face-with-crossed-out-eyes",
    "knocked-out-face": "face-with-crossed-out-eyes",
    "pouting-face": "enraged-face",
    "robot-face": "robot",
    "face-savouring-delicious-food": "face-savoring-food",
    "disappointed-but-relieved-face": "sad-but-relieved-face",
    "face-with-cold-sweat": "downcast-face-with-sweat",
    "japanese-ogre": "ogre",
    "japanese-goblin": "goblin",
    "extraterrestrial-alien": "alien",
    "space-invader": "alien-monster",
}

# fxemoji (Firefox OS) uses its own concatenated names; these are its faces (checked on a
# contact sheet: its "frown", "pout" and "guapimao" are people, not faces, and are left out).
FXEMOJI_FACES: dict[str, str] = {
    "grin": "grinning-face", "grinwide": "grinning-face-with-big-eyes",
    "grinwideeyes": "grinning-face-with-smiling-eyes", "grineyes": "beaming-face-with-smiling-eyes",
    "grinsquint": "grinning-squinting-face", "grinsweat": "grinning-face-with-sweat",
    "grintears": "face-with-tears-of-joy", "smallsmile": "slightly-smiling-face", "winking": "winking-face",
    "smileeyes": "smiling-face-with-smiling-eyes", "halo": "smiling-face-with-halo",
    "hearteyes": "smiling-face-with-heart-eyes", "kiss": "face-blowing-a-kiss", "kissing": "kissing-face",
    "whitesmilingface": "smiling-face", "kissclosedeyes": "kissing-face-with-closed-eyes",
    "kisseyes": "kissing-face-with-smiling-eyes", "smiletongue": "face-savoring-food",
    "tongueout": "face-with-tongue", "tongueoutwink": "winking-face-with-tongue",
    "tongueoutwink2": "squinting-face-with-tongue", "neutral": "neutral-face",
    "expressionless": "expressionless-face", "nomouth": "face-without-mouth", "smirk": "smirking-face",
    "unamused": "unamused-face", "grimacing": "grimacing-face", "relieved": "relieved-face",
    "pensive": "pensive-face", "sleepy": "sleepy-face", "sleeping": "sleeping-face",
    "medicalmask": "face-with-medical-mask", "dizzyface": "face-with-crossed-out-eyes",
    "sunglasses": "smiling-face-with-sunglasses", "confused": "confused-face", "smallfrown": "slightly-frowning-face",
    "worried": "worried-face", "openmouth": "face-with-open-mouth", "hushed": "hushed-face",
    "astonished": "astonished-face", "flushed": "flushed-face", "frownmouth": "frowning-face-with-open-mouth",
    "anguish": "anguished-face", "fearful": "fearful-face", "coldsweat": "anxious-face-with-sweat",
    "dissapointedrelief": "sad-but-relieved-face", "crying": "crying-face", "loudlycrying": "loudly-crying-face",
    "screamfear": "face-screaming-in-fear", "confounded": "confounded-face", "perservere": "persevering-face",
    "disappointed": "disappointed-face", "sweat": "downcast-face-with-sweat", "weary": "weary-face",
    "tired": "tired-face", "triumph": "face-with-steam-from-nose", "pouting": "enraged-face",
    "angry": "angry-face", "imp": "angry-face-with-horns", "devilhorns": "smiling-face-with-horns", "skull": "skull",
    "ogre": "ogre", "japaneseangrymask": "goblin", "poo": "pile-of-poo", "alien": "alien", "alienmonster": "alien-monster",
    "ghost": "ghost",
}

EMOJI_SETS: dict[str, dict[str, str]] = {
    # set prefix -> credits (author, url, licence) as given by the package's info.json
    "twemoji": {"title": "Twemoji", "author": "Twitter, Inc. and other contributors (maintained by jdecked)"},
    "noto": {"title": "Noto Emoji", "author": "Google Inc."},
    "fluent-emoji-flat": {"title": "Fluent Emoji (flat)", "author": "Microsoft Corporation"},
    "fxemoji": {"title": "Firefox OS Emoji (FxEmojis)", "author": "Mozilla Foundation"},
    "emojione": {"title": "EmojiOne 2.3 (via Emojitwo)", "author": "Emoji One (Ranks.com) and Emojitwo contributors"},
}

EMOJI_VARIANTS = 8
EMOJI_SCALE = (0.80, 0.95)


def face_name(set_name: str, icon: str) -> str | None:
    """The CLDR face name of ``icon`` from ``set_name`` if it is a face emoji, else ``None``.

    Faces are the Unicode "Smileys & Emotion" face subgroups; cats, monkeys, hearts, hands,
    people, moons/suns with faces and animal faces are not.
    """
    if set_name == "fxemoji":
        return FXEMOJI_FACES.get(icon)
    canonical = FACE_ALIASES.get(icon, icon)
    return canonical if canonical in FACE_NAMES else None


def is_face(set_name: str, icon: str) -> bool:
    return face_name(set_name, icon) is not None


@dataclass(frozen=True)
class EmojiVariant:
    scale: float
    dx: float  # offset of the centre as a fraction of the canvas
    dy: float


def emoji_variant(set_name: str, icon: str, variant: int, seed: str = "0") -> EmojiVariant:
    """Deterministic augmentation for one (emoji, variant): scale and offset (the background is
    transparent: the face alone is the avatar)."""
    key = ("emoji-folk", seed, set_name, icon)
    lo, hi = EMOJI_SCALE
    scale = lo + (hi - lo) * stable_unit(*key, variant, "scale")
    room = (1.0 - scale) / 2 * 0.8  # keep the emoji inside the canvas
    dx = room * (2 * stable_unit(*key, variant, "dx") - 1)
    dy = room * (2 * stable_unit(*key, variant, "dy") - 1)
    return EmojiVariant(round(scale, 4), round(dx, 4), round(dy, 4))


def emoji_svg(rec: dict, v: EmojiVariant, size: int) -> str:
    w = v.scale * size
    x = (size - w) / 2 + v.dx * size
    y = (size - w) / 2 + v.dy * size
    return (
        SVG_OPEN.format(s=size)
        + iconify_inner(rec, x, y, w, w)
        + "</svg>"
    )


def select_faces(records: Iterable[dict]) -> list[tuple[dict, str]]:
    """``(record, cldr_name)`` for every face, one per (set, face); canonical names win."""
    chosen: dict[tuple[str, str], dict] = {}
    for rec in records:
        face = face_name(rec["set"], rec["name"])
        if face is None:
            continue
        key = (rec["set"], face)
        if key not in chosen or rec["name"] == face:
            chosen[key] = rec
    return [(rec, face) for (s, face), rec in sorted(chosen.items())]


EMOJI_LICENSE_HEAD = """\
Emoji folk training set
=======================

Generated by scripts/build_dataset.py emoji-folk: {count} images of {faces} face emojis
({per_set}), {variants} variants each, {size}x{size} px RGBA (transparent background).

Faces are the emojis of the Unicode "Smileys & Emotion" face subgroups (face-smiling,
face-affection, face-tongue, face-hand, face-neutral-skeptical, face-sleepy, face-unwell,
face-hat, face-glasses, face-concerned, face-negative, face-costume); no hearts, hands,
cats or monkeys.

Changes made to the original artwork: each emoji is rasterised from its SVG, scaled to
80-95 % of the canvas and shifted by a small offset on a transparent background; scale and
offset are chosen deterministically per emoji and variant.
The artwork itself is not modified.

Sources (SVG data from the Iconify JSON packages on npm):
"""

EMOJI_SOURCE = """
* {title} -- {author}
  npm package {package} {version} (Iconify), upstream {url}
  License: {license_title} ({spdx}), {license_url}
  {images} images of {faces} faces.
"""

MIT_FLUENT_NOTICE = "Copyright (c) Microsoft Corporation."


def plan_emoji(theme: Theme, args: argparse.Namespace, versions: dict[str, str]) -> Plan:
    sets = [p.split("/", 1)[1] for p in theme.packages if p.startswith("@iconify-json/")]
    faces = select_faces(iter_node_records(theme.path, ["--sets", ",".join(sets)]))
    variants = args.variants or EMOJI_VARIANTS
    entries = []
    for rec, _face in faces:
        for v in range(variants):
            fname = f"emoji_{sanitize(rec['set'])}_{sanitize(rec['name'])}_{v}.png"
            entries.append((fname, rec, emoji_variant(rec["set"], rec["name"], v, args.seed)))
    entries.sort(key=lambda e: e[0])
    entries = subsample(entries, args.count)
    items = [Item(f, lambda rec=rec, v=v: render_png(emoji_svg(rec, v, args.size), args.size, None, alpha=True))
             for f, rec, v in entries]
    infos = {s: json.loads((theme.path / "node_modules" / "@iconify-json" / s / "info.json").read_text("utf-8"))
             for s in sets}
    per_set_images = {s: sum(1 for _f, rec, _v in entries if rec["set"] == s) for s in sets}
    per_set_faces = {s: len({rec["name"] for _f, rec, _v in entries if rec["set"] == s}) for s in sets}

    def license_txt(count: int) -> str:
        text = EMOJI_LICENSE_HEAD.format(
            count=count, faces=sum(per_set_faces.values()), variants=variants, size=args.size,
            per_set=", ".join(f"{s}: {per_set_faces[s]}" for s in sets),
        )
        for s in sets:
            info = infos[s]
            text += EMOJI_SOURCE.format(
                title=EMOJI_SETS[s]["title"], author=EMOJI_SETS[s]["author"], package=f"@iconify-json/{s}",
                version=versions[f"@iconify-json/{s}"], url=info["author"]["url"],
                license_title=info["license"]["title"], spdx=info["license"]["spdx"], license_url=info["license"]["url"],
                images=per_set_images[s], faces=per_set_faces[s],
            )
        text += (
            "\nThe Fluent Emoji artwork is used under the MIT License, "
            f"{MIT_FLUENT_NOTICE}\n"
            "\nFull license texts (from the npm package spdx-license-list "
            f"{versions['spdx-license-list']}):\n"
        )
        for spdx in sorted({infos[s]["license"]["spdx"] for s in sets}):
            body = license_text(spdx, theme.path)
            if spdx == "MIT":  # the SPDX template's placeholder -> the Fluent Emoji notice
                body = body.replace("Copyright (c) <year> <copyright holders>", MIT_FLUENT_NOTICE)
            text += f"\n{'=' * 78}\n{spdx}\n{'=' * 78}\n{body}"
        return text

    return Plan(
        items=items, total=len(items), license_txt=license_txt,
        manifest={
            "source": "face emojis from Iconify JSON sets",
            "seed": args.seed,
            "faces": sum(per_set_faces.values()),
            "variants": variants,
            "faces_per_set": per_set_faces,
            "images_per_set": per_set_images,
            "background": None,
            "channels": 4,
            "scale": list(EMOJI_SCALE),
            "sources": [
                {"package": f"@iconify-json/{s}", "version": versions[f"@iconify-json/{s}"],
                 "title": EMOJI_SETS[s]["title"], "author": EMOJI_SETS[s]["author"],
                 "url": infos[s]["author"]["url"], "license": infos[s]["license"]["spdx"]}
                for s in sets
            ],
        },
    )


def subsample(entries: list, count: int | None) -> list:
    """``count`` entries spread evenly over the sorted list (all when ``count`` is None)."""
    if count is None or count >= len(entries):
        return entries
    if count <= 0:
        return []
    return [entries[(i * len(entries)) // count] for i in range(count)]


# --- arcane-sigils ----------------------------------------------------------------------------

# (bright core, glow colour) of the sigil foreground.
SIGIL_FOREGROUNDS = (
    ("#fff4c2", "#ffc23d"),  # gold
    ("#dcfdff", "#22d3ee"),  # cyan
    ("#ffd9f4", "#f03ebf"),  # magenta
    ("#d9ffe9", "#2ee59d"),  # emerald
    ("#eee0ff", "#a46bff"),  # violet
    ("#ffe1cc", "#ff7a2f"),  # ember
)
# (centre, edge) of the dark background.
SIGIL_BACKGROUNDS = (
    ("#1d2b5a", "#0a1128"),  # midnight blue
    ("#3a1d5c", "#14082a"),  # deep purple
    ("#24243a", "#08080e"),  # near-black
    ("#123a52", "#061624"),  # abyss teal-blue
    ("#40204a", "#12071a"),  # plum
)
SIGIL_VARIANTS = 3
SIGIL_SCALE = 0.75
# Icons whose silhouette turns to mush at 64 px (see sigil_readable) are left out.
SIGIL_MIN_INK, SIGIL_MAX_INK = 0.06, 0.80
SIGIL_MAX_DETAIL = 0.70


@dataclass(frozen=True)
class SigilVariant:
    core: str
    glow: str
    bg_centre: str
    bg_edge: str
    shape: str  # "full" or "circle"
    gradient: bool


def sigil_variant(icon: str, variant: int, seed: str = "0") -> SigilVariant:
    key = ("arcane-sigils", seed, icon)
    # Variants of one icon step through the palette: distinct colours for up to 6 variants.
    fg = SIGIL_FOREGROUNDS[(stable_int(*key, "fg") + variant) % len(SIGIL_FOREGROUNDS)]
    bg = stable_choice(SIGIL_BACKGROUNDS, *key, variant, "bg")
    shape = "circle" if stable_unit(*key, variant, "shape") < 0.5 else "full"
    gradient = stable_unit(*key, variant, "gradient") < 0.7
    return SigilVariant(fg[0], fg[1], bg[0], bg[1], shape, gradient)


def sigil_svg(rec: dict, v: SigilVariant, size: int) -> str:
    s = size
    w = SIGIL_SCALE * s
    x = y = (s - w) / 2
    fill = "url(#fg)" if v.gradient else v.core
    glow_body = re.sub(r"currentColor", v.glow, rec["body"])
    body = re.sub(r"currentColor", fill, rec["body"])
    defs = (
        "<defs>"
        f'<radialGradient id="bg" cx="50%" cy="50%" r="60%"><stop offset="0" stop-color="{v.bg_centre}"/>'
        f'<stop offset="1" stop-color="{v.bg_edge}"/></radialGradient>'
        f'<radialGradient id="fg" cx="50%" cy="50%" r="65%"><stop offset="0" stop-color="{v.core}"/>'
        f'<stop offset="0.55" stop-color="{v.core}"/><stop offset="1" stop-color="{v.glow}"/></radialGradient>'
        f'<filter id="glow" x="-30%" y="-30%" width="160%" height="160%">'
        f'<feGaussianBlur stdDeviation="{_num(s * 0.035)}"/></filter>'
        "</defs>"
    )
    if v.shape == "circle":
        back = (
            f'<circle cx="{_num(s / 2)}" cy="{_num(s / 2)}" r="{_num(s * 0.48)}" fill="url(#bg)"/>'
            f'<circle cx="{_num(s / 2)}" cy="{_num(s / 2)}" r="{_num(s * 0.465)}" fill="none" '
            f'stroke="{v.glow}" stroke-opacity="0.55" stroke-width="{_num(s * 0.02)}"/>'
        )
    else:
        back = f'<rect width="{s}" height="{s}" fill="url(#bg)"/>'
    return (
        SVG_OPEN.format(s=s)
        + defs
        + back
        + f'<g filter="url(#glow)" opacity="0.9">{iconify_inner(rec, x, y, w, w, glow_body)}</g>'
        + iconify_inner(rec, x, y, w, w, body)
        + "</svg>"
    )


def sigil_metrics(rec: dict, size: int = DEFAULT_SIZE) -> tuple[float, float]:
    """(ink, detail) of the icon's silhouette at the size it is drawn in a ``size`` image.

    ink: fraction of the icon box covered; detail: fraction of the inked pixels that are only
    partly covered (anti-aliased edges) -- high when strokes are thinner than a pixel or two.
    """
    import numpy as np
    import resvg_py
    from PIL import Image

    px = max(8, round(SIGIL_SCALE * size))
    svg = SVG_OPEN.format(s=px) + iconify_inner(rec, 0, 0, px, px, rec["body"].replace("currentColor", "#000")) + "</svg>"
    raw = resvg_py.svg_to_bytes(svg_string=svg, width=px, height=px, skip_system_fonts=True)
    alpha = np.asarray(Image.open(io.BytesIO(bytes(raw))).convert("RGBA").getchannel("A"), dtype=np.float32) / 255
    inked = alpha > 0.05
    ink = float(alpha.mean())
    detail = float(((alpha > 0.05) & (alpha < 0.95)).sum() / max(1, inked.sum()))
    return ink, detail


def sigil_readable(rec: dict, size: int = DEFAULT_SIZE) -> bool:
    ink, detail = sigil_metrics(rec, size)
    return SIGIL_MIN_INK <= ink <= SIGIL_MAX_INK and detail <= SIGIL_MAX_DETAIL


SIGIL_LICENSE = """\
Arcane sigils training set
==========================

Generated by scripts/build_dataset.py arcane-sigils: {count} images of {icons} icons,
{variants} colour variants each, {size}x{size} px RGBA (the disc badges are transparent around the disc).

Source: Game-icons.net (https://game-icons.net/), icons by Lorc, Delapouite and
  contributors (the individual author of each icon is listed on game-icons.net).
  SVG data from the npm package @iconify-json/game-icons {version} (Iconify),
  upstream {url}
License: {license_title} ({spdx}), {license_url}
  https://creativecommons.org/licenses/by/3.0/

Changes made to the original icons: each silhouette is recoloured as a glowing sigil --
a bright fill or radial gradient (gold, cyan, magenta, emerald, violet or ember) over a
blurred glow of the same shape, scaled to {scale}% of the canvas and centred on a dark
radial-gradient background (a full square, or a disc with a faint ring and nothing around it). Colours and shape
are chosen deterministically per icon and variant. {skipped} of {total_icons} icons were left
out because their silhouette is unreadable at {size} px (ink coverage outside
{min_ink:.0%}-{max_ink:.0%} of the icon box, or more than {max_detail:.0%} of the inked pixels
only partly covered, i.e. strokes thinner than about a pixel); they are listed in dataset.json.

Full license text (CC-BY-3.0, from the npm package spdx-license-list {spdx_version}):
------------------------------------------------------------------------------
{full_license}"""


def plan_sigils(theme: Theme, args: argparse.Namespace, versions: dict[str, str]) -> Plan:
    from rich.progress import Progress

    records = list(iter_node_records(theme.path, ["--sets", "game-icons"]))
    variants = args.variants or SIGIL_VARIANTS
    kept, skipped = [], []
    with Progress(transient=True) as progress:
        task = progress.add_task("checking icons at 64 px", total=len(records))
        for rec in records:
            (kept if sigil_readable(rec, args.size) else skipped).append(rec)
            progress.advance(task)
    entries = []
    for rec in kept:
        for v in range(variants):
            entries.append((f"sigil_{sanitize(rec['name'])}_{v}.png", rec, sigil_variant(rec["name"], v, args.seed)))
    entries.sort(key=lambda e: e[0])
    entries = subsample(entries, args.count)
    items = [Item(f, lambda rec=rec, v=v: render_png(sigil_svg(rec, v, args.size), args.size, None, alpha=True))
             for f, rec, v in entries]
    info = json.loads((theme.path / "node_modules" / "@iconify-json" / "game-icons" / "info.json").read_text("utf-8"))
    icons = len({rec["name"] for _f, rec, _v in entries})

    def license_txt(count: int) -> str:
        return SIGIL_LICENSE.format(
            count=count, icons=icons, variants=variants, size=args.size,
            version=versions["@iconify-json/game-icons"], url=info["author"]["url"],
            license_title=info["license"]["title"], spdx=info["license"]["spdx"], license_url=info["license"]["url"],
            scale=round(SIGIL_SCALE * 100), skipped=len(skipped), total_icons=len(records),
            min_ink=SIGIL_MIN_INK, max_ink=SIGIL_MAX_INK, max_detail=SIGIL_MAX_DETAIL,
            spdx_version=versions["spdx-license-list"], full_license=license_text("CC-BY-3.0", theme.path),
        )

    return Plan(
        items=items, total=len(items), license_txt=license_txt,
        manifest={
            "source": "game-icons.net via @iconify-json/game-icons",
            "seed": args.seed,
            "icons": icons,
            "variants": variants,
            "icons_in_package": len(records),
            "channels": 4,
            "skipped_unreadable": sorted(r["name"] for r in skipped),
            "foregrounds": [list(c) for c in SIGIL_FOREGROUNDS],
            "backgrounds": [list(c) for c in SIGIL_BACKGROUNDS],
            "scale": SIGIL_SCALE,
            "sources": [{
                "package": "@iconify-json/game-icons", "version": versions["@iconify-json/game-icons"],
                "title": "Game-icons.net", "author": "Lorc, Delapouite and contributors",
                "url": "https://game-icons.net/", "license": info["license"]["spdx"],
            }],
        },
    )


THEMES: dict[str, Theme] = {
    t.name: t
    for t in (
        Theme(
            name="galactic-droids", title="Galactic droids", package_dir="bottts",
            packages=("@dicebear/core", "@dicebear/bottts"), prefix="bottts",
            attribution="Galactic droids learned from DiceBear's Bottts style, based on Bottts by Pablo Stanley "
            "(free for personal and commercial use).",
            license=("LicenseRef-Bottts", "MIT"), plan=plan_bottts, default_count=10_000,
        ),
        Theme(
            name="pixel-heroes", title="Pixel heroes", package_dir="pixel-art",
            packages=("@dicebear/core", "@dicebear/pixel-art"), prefix="pixel",
            attribution="Pixel heroes learned from DiceBear's Pixel Art style by DiceBear (CC0 1.0).",
            license=("CC0-1.0", "MIT"), plan=plan_pixel, default_count=10_000,
        ),
        Theme(
            name="emoji-folk", title="Emoji folk", package_dir="emoji",
            packages=(
                "@iconify-json/emojione", "@iconify-json/fluent-emoji-flat", "@iconify-json/fxemoji",
                "@iconify-json/noto", "@iconify-json/twemoji", "spdx-license-list",
            ),
            prefix="emoji",
            attribution="Emoji folk learned from face emojis by Twitter's Twemoji (CC BY 4.0), Google's Noto Emoji "
            "(Apache 2.0), Microsoft's Fluent Emoji (MIT), Mozilla's FxEmojis (Apache 2.0) and EmojiOne (CC BY 4.0).",
            license=("CC-BY-4.0", "Apache-2.0", "MIT"), plan=plan_emoji,
        ),
        Theme(
            name="arcane-sigils", title="Arcane sigils", package_dir="game-icons",
            packages=("@iconify-json/game-icons", "spdx-license-list"), prefix="sigil",
            attribution="Arcane sigils learned from game-icons.net icons by Lorc, Delapouite and contributors "
            "(CC BY 3.0), recoloured as glowing sigils.",
            license=("CC-BY-3.0",), plan=plan_sigils,
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# Driver.


def build(theme: Theme, args: argparse.Namespace) -> dict:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    ensure_node_modules(theme.path, theme.packages)
    versions = package_versions(theme.path, theme.packages)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("dataset.json", ".done"):
        (out / stale).unlink(missing_ok=True)

    plan = theme.plan(theme, args, versions)
    digest = hashlib.sha256()
    written: set[str] = set()
    last = ""
    with Progress(
        TextColumn(f"[bold]{theme.name}[/bold]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as progress:
        task = progress.add_task("render", total=plan.total)
        for item in plan.items:
            if item.filename <= last:
                raise AssertionError(f"items must come in file-name order ({item.filename} after {last})")
            last = item.filename
            png = item.make_png()
            digest.update(png)
            tmp = out / f".{item.filename}.tmp"
            tmp.write_bytes(png)
            tmp.replace(out / item.filename)
            written.add(item.filename)
            progress.advance(task)
    # Files of this theme left over from an earlier, larger build would pollute the set.
    for old in out.glob(f"{theme.prefix}_*.png"):
        if old.name not in written:
            old.unlink()

    manifest = {
        "name": theme.name,
        "title": theme.title,
        "attribution": theme.attribution,
        "license": list(theme.license),
        **plan.manifest,
        "packages": versions,
        "count": len(written),
        "size": args.size,
        "file_pattern": f"{theme.prefix}_*.png",
        "sha256_of_pngs": digest.hexdigest(),
        "sha256_order": "PNG bytes concatenated in file-name order",
    }
    (out / "LICENSE.txt").write_text(plan.license_txt(len(written)), encoding="utf-8")
    (out / "dataset.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(written)} images to {out} (sha256 {digest.hexdigest()[:16]})")
    return manifest


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(THEMES), help="theme to build")
    parser.add_argument("--out", type=Path, help="output folder (created; default var/datasets/NAME)")
    parser.add_argument("--count", type=int, help="number of images (default: 10,000 for DiceBear themes, all for icon sets)")
    parser.add_argument("--seed", default="0", help="seed prefix; DiceBear avatar i uses '<seed>-<i>'")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="image side in pixels")
    parser.add_argument("--background", help="galactic-droids only: CSS background colour (default white)")
    parser.add_argument("--variants", type=int, help="emoji-folk / arcane-sigils: variants per icon (8 / 3)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    theme = THEMES[args.name]
    if args.out is None:
        args.out = Path("var") / "datasets" / theme.name
    if args.count is None:
        args.count = theme.default_count
    if args.background and theme.name != "galactic-droids":
        raise BuildError("error: --background applies to galactic-droids only")
    build(theme, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
