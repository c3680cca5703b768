"""The theme upscaler (effigies.gan.upscale): contract, alpha, resume, and that training beats a smooth filter."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from effigies.gan.upscale import (
    UPSCALER_META,
    UPSCALER_WEIGHTS,
    Upscaler,
    UpscalerConfig,
    export_upscaler,
    load_pairs,
    load_upscaler,
    train_upscaler,
)


def _shapes(seed: int) -> Image.Image:
    """A flat-colour badge with a dark outline on a transparent square, drawn at 256 px."""
    rng = random.Random(seed)
    im = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    for _ in range(3):
        x0, y0 = rng.randrange(10, 150), rng.randrange(10, 150)
        box = (x0, y0, x0 + rng.randrange(40, 100), y0 + rng.randrange(40, 100))
        colour = tuple(rng.randrange(40, 255) for _ in range(3)) + (255,)
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=colour, outline=(20, 20, 30, 255), width=8)
    return im


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    low, high = root / "low", root / "high"
    low.mkdir()
    high.mkdir()
    for i in range(24):
        big = _shapes(i)
        big.save(high / f"img_{i:03d}.png")
        big.resize((64, 64), Image.Resampling.LANCZOS).save(low / f"img_{i:03d}.png")
    Image.new("RGBA", (64, 64)).save(low / "unpaired.png")  # no 256 px render: left out
    return low, high


def test_pairs_are_matched_by_name(pairs):
    low, high, names = load_pairs(*pairs)
    assert len(names) == 24 and "unpaired.png" not in names
    assert low.shape == (24, 4, 64, 64) and high.shape == (24, 4, 256, 256) and low.dtype == torch.uint8


def test_an_untrained_upscaler_is_a_smooth_enlargement_that_keeps_rgb_and_alpha(tmp_path):
    # Its weights are drawn at random: fixed here, or the last pixel's rounding depends on what the
    # session drew before (an unseeded draw put one pixel 2 levels off under pytest-xdist).
    torch.manual_seed(0)
    net = Upscaler(UpscalerConfig())
    from effigies.gan.upscale import LoadedUpscaler

    up = LoadedUpscaler(net, {})
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[16:48, 16:48] = (200, 40, 40, 255)
    out = up(rgba)
    assert out.shape == (256, 256, 4) and out.dtype == np.uint8
    assert out[0:40, 0:40, 3].max() == 0 and (out[0:40, 0:40, :3] == 0).all()  # transparent stays transparent
    # an opaque fill keeps its colour (the last layer starts near, not at, zero)
    assert np.abs(out[100:150, 100:150].astype(int) - (200, 40, 40, 255)).max() <= 2
    rgb = up(np.full((64, 64, 3), 90, np.uint8))
    assert rgb.shape == (256, 256, 3)
    assert np.abs(rgb.astype(int) - 90).max() <= 1
    with pytest.raises(ValueError, match="uint8"):
        up(np.zeros((32, 32, 3), np.uint8))


def test_training_beats_lanczos_on_held_out_art(pairs, tmp_path):
    low, high = pairs
    torch.set_num_threads(1)
    train_upscaler(low, high, tmp_path / "run", steps=150, batch_size=8, crop=16, lr=3e-3, limit=None)
    export_upscaler(tmp_path / "run", tmp_path / "out")
    up = load_upscaler(tmp_path / "out")
    errors = {"lanczos": [], "upscaler": []}
    for seed in range(100, 106):  # never trained on
        big = _shapes(seed)
        small = big.resize((64, 64), Image.Resampling.LANCZOS)
        truth = np.asarray(big).astype(np.float32)
        lanczos = np.asarray(small.resize((256, 256), Image.Resampling.LANCZOS)).astype(np.float32)
        errors["lanczos"].append(np.abs(lanczos - truth).mean())
        errors["upscaler"].append(np.abs(up(np.asarray(small)).astype(np.float32) - truth).mean())
    assert np.mean(errors["upscaler"]) < 0.9 * np.mean(errors["lanczos"]), errors


def test_an_interrupted_run_resumes_where_it_stopped(pairs, tmp_path):
    low, high = pairs
    kwargs = dict(steps=12, batch_size=4, crop=16, limit=None)
    whole = train_upscaler(low, high, tmp_path / "whole", **kwargs)
    calls = {"n": 0}

    def stop_after_five() -> bool:
        calls["n"] += 1
        return calls["n"] > 5

    first = train_upscaler(low, high, tmp_path / "split", abort_fn=stop_after_five, **kwargs)
    assert first["aborted"] and first["step"] == 5
    second = train_upscaler(low, high, tmp_path / "split", **kwargs)
    assert second["step"] == 12 and second["finished"]
    export_upscaler(tmp_path / "whole", tmp_path / "a")
    export_upscaler(tmp_path / "split", tmp_path / "b")
    from safetensors.torch import load_file

    a, b = load_file(str(tmp_path / "a" / UPSCALER_WEIGHTS)), load_file(str(tmp_path / "b" / UPSCALER_WEIGHTS))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert whole["step"] == 12


def test_a_broken_upscaler_folder_is_an_error_not_a_silent_fallback(pairs, tmp_path):
    low, high = pairs
    train_upscaler(low, high, tmp_path / "run", steps=2, batch_size=2, crop=16, limit=None)
    out = tmp_path / "out"
    export_upscaler(tmp_path / "run", out)
    meta = json.loads((out / UPSCALER_META).read_text())
    (out / UPSCALER_META).write_text(json.dumps({**meta, "config": {**meta["config"], "width": 16}}))
    with pytest.raises(RuntimeError):  # weights of width 32 do not fit a width-16 network
        load_upscaler(out)
    (out / UPSCALER_META).write_text(json.dumps({**meta, "format": "something-else"}))
    with pytest.raises(ValueError, match="effigies-upscaler"):
        load_upscaler(out)
    (out / UPSCALER_META).unlink()
    with pytest.raises(FileNotFoundError):
        load_upscaler(out)
