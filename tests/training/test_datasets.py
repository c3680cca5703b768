"""scripts/build_dataset.py: face filter, deterministic variants, rasterising (no node/npm needed)."""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_dataset.py"


@pytest.fixture(scope="module")
def bd():
    spec = importlib.util.spec_from_file_location("build_dataset_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _img(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


# A stand-in iconify record: a filled circle in a 32x32 box.
CIRCLE = {"set": "twemoji", "name": "grinning-face", "left": 0, "top": 0, "width": 32, "height": 32,
          "body": '<circle cx="16" cy="16" r="14" fill="#ffcc00"/>'}
SILHOUETTE = {"set": "game-icons", "name": "ring", "left": 0, "top": 0, "width": 512, "height": 512,
              "body": '<path fill="currentColor" d="M64 64h384v384H64z"/>'}


def test_face_filter_keeps_faces_and_rejects_cats_hearts_hands(bd):
    assert bd.is_face("twemoji", "grinning-face")
    assert bd.is_face("noto", "face-with-tears-of-joy")
    assert bd.is_face("fluent-emoji-flat", "smiling-face-with-heart-eyes")
    assert bd.is_face("emojione", "robot-face") and bd.face_name("emojione", "robot-face") == "robot"
    assert bd.face_name("twemoji", "hugging-face") == "smiling-face-with-open-hands"
    for name in ("grinning-cat", "grinning-cat-face", "cat-face-with-tears-of-joy", "red-heart", "see-no-evil-monkey",
                 "thumbs-up", "waving-hand", "sun-with-face", "full-moon-face", "dog-face", "person-frowning",
                 "grinning-face-with-smiling-eyes-dark-skin-tone"):
        assert not bd.is_face("twemoji", name), name
    # fxemoji has its own names; its "frown"/"pout" are people and its fox faces are cats.
    assert bd.face_name("fxemoji", "grin") == "grinning-face"
    for name in ("frown", "pout", "guapimao", "foxgrin", "redheart", "monkeysee"):
        assert not bd.is_face("fxemoji", name), name


def test_face_list_is_only_faces(bd):
    names = bd.FACE_NAMES
    assert 110 <= len(names) <= 140
    assert not [n for n in names if set(n.split("-")) & {"cat", "monkey", "dog", "moon", "sun", "clock"}]
    assert not [n for n in names if n.endswith(("-heart", "-hand", "-monkey", "-cat"))]
    not_called_face = {n for n in names if "face" not in n}
    assert not_called_face == {"skull", "skull-and-crossbones", "pile-of-poo", "ogre", "goblin", "ghost", "alien",
                               "alien-monster", "robot", "star-struck", "exploding-head", "rolling-on-the-floor-laughing",
                               "head-shaking-horizontally", "head-shaking-vertically"}
    assert set(bd.FACE_ALIASES.values()) <= names
    assert set(bd.FXEMOJI_FACES.values()) <= names


def test_select_faces_prefers_the_canonical_name_once_per_set(bd):
    recs = [dict(CIRCLE, name="hugging-face"), dict(CIRCLE, name="smiling-face-with-open-hands"),
            dict(CIRCLE, name="red-heart"), dict(CIRCLE, set="noto", name="hugging-face")]
    got = [(r["set"], r["name"], face) for r, face in bd.select_faces(recs)]
    assert got == [("noto", "hugging-face", "smiling-face-with-open-hands"),
                   ("twemoji", "smiling-face-with-open-hands", "smiling-face-with-open-hands")]


def test_deterministic_choices_are_stable(bd):
    assert bd.stable_int("a", 1) == bd.stable_int("a", "1")
    assert 0 <= bd.stable_unit("x") < 1
    assert bd.pixel_background("0", 0) == bd.pixel_background("0", 0) in bd.PIXEL_BACKGROUNDS
    assert len({bd.pixel_background("0", i) for i in range(200)}) == len(bd.PIXEL_BACKGROUNDS)

    variants = [bd.emoji_variant("twemoji", "grinning-face", v) for v in range(bd.EMOJI_VARIANTS)]
    assert variants == [bd.emoji_variant("twemoji", "grinning-face", v) for v in range(bd.EMOJI_VARIANTS)]
    assert len(set(variants)) == bd.EMOJI_VARIANTS  # distinct placements per emoji
    for v in variants:
        assert bd.EMOJI_SCALE[0] <= v.scale <= bd.EMOJI_SCALE[1]
        assert abs(v.dx) + v.scale / 2 <= 0.5 and abs(v.dy) + v.scale / 2 <= 0.5  # stays on the canvas
    assert bd.emoji_variant("twemoji", "grinning-face", 0, seed="1") != variants[0]

    sigils = [bd.sigil_variant("ring", v) for v in range(bd.SIGIL_VARIANTS)]
    assert sigils == [bd.sigil_variant("ring", v) for v in range(bd.SIGIL_VARIANTS)]
    assert len({s.glow for s in sigils}) == bd.SIGIL_VARIANTS


def test_pinned_values(bd):
    # The datasets in var/datasets were built with these; a change here changes every image.
    assert bd.stable_int("pixel-heroes", "background", "0-0") == int.from_bytes(
        hashlib.sha256(b"pixel-heroes\x1fbackground\x1f0-0").digest()[:8], "big")
    assert [bd.pixel_background("0", i) for i in range(3)] == ["#5fa8d3", "#b5e48c", "#e9c46a"]
    assert bd.emoji_variant("twemoji", "grinning-face", 0) == bd.EmojiVariant(0.8075, 0.0292, -0.0532)
    assert bd.sigil_variant("ring", 0) == bd.SigilVariant("#ffd9f4", "#f03ebf", "#3a1d5c", "#14082a", "circle", False)


def test_render_png_gives_64px_rgb_and_flattens_transparency_onto_white(bd):
    svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect x="2" y="2" width="6" height="6" fill="#f00"/></svg>'
    img = _img(bd.render_png(svg, 64, None))
    assert img.mode == "RGB" and img.size == (64, 64)
    assert img.getpixel((0, 0)) == (255, 255, 255)  # transparent corner -> white, not black
    assert img.getpixel((32, 32)) == (255, 0, 0)
    assert _img(bd.render_png(svg, 64, "#123456")).getpixel((0, 0)) == (0x12, 0x34, 0x56)


def test_pixel_art_stays_crisp(bd):
    cells = "".join(f'<rect x="{x}" y="{y}" width="1" height="1" fill="#000"/>'
                    for x in range(16) for y in range(16) if (x + y) % 2)
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16" shape-rendering="crispEdges">{cells}</svg>'
    for size in (64, 40):
        img = _img(bd.render_pixel_png(svg, size, "#8ecae6"))
        assert img.mode == "RGB" and img.size == (size, size)
        assert len(img.getcolors()) == 2  # no anti-aliased in-between colours
    blocks = np.asarray(_img(bd.render_pixel_png(svg, 64, "#8ecae6"))).reshape(16, 4, 16, 4, 3)
    assert (blocks.max(axis=(1, 3)) == blocks.min(axis=(1, 3))).all()


def test_emoji_and_sigil_compositions_render(bd):
    v = bd.emoji_variant("twemoji", "grinning-face", 3)
    img = _img(bd.render_png(bd.emoji_svg(CIRCLE, v, 64), 64, None, alpha=True))
    assert img.mode == "RGBA" and img.size == (64, 64)
    assert img.getpixel((0, 0))[3] == 0  # the face alone: transparent around it
    assert img.getpixel((32 + round(v.dx * 64), 32 + round(v.dy * 64))) == (255, 204, 0, 255)

    s = bd.sigil_variant("ring", 0)  # a disc badge
    assert s.shape == "circle"
    img = _img(bd.render_png(bd.sigil_svg(SILHOUETTE, s, 64), 64, None, alpha=True))
    assert img.mode == "RGBA" and img.size == (64, 64)
    assert img.getpixel((0, 0))[3] == 0  # nothing around the disc
    assert max(img.getpixel((32, 4))[:3]) < 120 and img.getpixel((32, 4))[3] == 255  # dark disc edge
    assert sum(img.getpixel((32, 32))[:3]) > 500  # bright sigil
    full = next(bd.sigil_variant("ring", v) for v in range(40) if bd.sigil_variant("ring", v).shape == "full")
    img = _img(bd.render_png(bd.sigil_svg(SILHOUETTE, full, 64), 64, None, alpha=True))
    assert img.getpixel((0, 0))[3] == 255 and max(img.getpixel((0, 0))[:3]) < 60  # an opaque dark square
    ink, detail = bd.sigil_metrics(SILHOUETTE)
    assert 0.5 < ink < 0.6 and detail < 0.2 and bd.sigil_readable(SILHOUETTE)


def test_helpers(bd):
    assert bd.sanitize("Fluent Emoji_Flat!") == "fluent-emoji-flat"
    assert bd.subsample(list(range(10)), None) == list(range(10))
    assert bd.subsample(list(range(10)), 3) == [0, 3, 6]
    assert bd.subsample(list(range(10)), 0) == []


def test_packages_are_pinned_and_locked(bd):
    for theme in bd.THEMES.values():
        pkg = json.loads((theme.path / "package.json").read_text())
        assert (theme.path / "package-lock.json").is_file() and (theme.path / "render.mjs").is_file()
        assert set(theme.packages) <= set(pkg["dependencies"]), theme.name
        for name, version in pkg["dependencies"].items():
            assert version[0].isdigit(), f"{theme.name}: {name} {version} is not an exact pin"
        assert theme.attribution and theme.license


def test_cli_dataset_build(bd, monkeypatch, capsys):
    from effigies import cli

    assert tuple(sorted(cli.DATASET_THEMES)) == tuple(sorted(bd.THEMES))
    args = cli.build_parser().parse_args(["dataset", "build", "pixel-heroes", "--count", "5"])
    assert args.func is cli.cmd_dataset_build and args.name == "pixel-heroes" and args.count == 5
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["dataset", "build", "nope"])
    monkeypatch.setattr("shutil.which", lambda tool: None)
    assert cli.main(["dataset", "build", "emoji-folk"]) == 2
    assert "node and npm not found" in capsys.readouterr().err
