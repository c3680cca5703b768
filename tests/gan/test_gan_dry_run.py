"""`effigies train --dry-run`: the real CLI trains a couple of steps in a temporary folder and keeps nothing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(*args: str, scratch: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(scratch)}  # where its temporary run folder goes
    return subprocess.run(
        [sys.executable, "-m", "effigies.cli", "train", "--dry-run", "--threads", "1", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def _few_images(tmp_path: Path) -> Path:
    data = tmp_path / "few"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        img = np.full((64, 64, 3), 255, dtype=np.uint8)
        x0, y0 = rng.integers(8, 24, size=2)
        img[y0 : y0 + 32, x0 : x0 + 32] = rng.integers(0, 256, size=3)
        Image.fromarray(img).save(data / f"img_{i:02d}.png")
    return data


def test_dry_run_trains_two_steps_and_keeps_nothing(tmp_path):
    data = _few_images(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    before = sorted(p.name for p in data.iterdir())

    done = _dry_run("--data", str(data), scratch=scratch)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "step 1/2:" in done.stdout and "step 2/2:" in done.stdout
    assert "dry run OK: 2 steps of batch 8 on 10 images" in done.stdout
    assert not list(scratch.glob("effigies-dry-run-*"))  # the run folder is gone
    assert sorted(p.name for p in data.iterdir()) == before  # and the data is as it was


def test_dry_run_fails_clearly_on_an_empty_or_missing_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = _dry_run("--data", str(empty), scratch=tmp_path)
    assert failed.returncode == 2
    assert f"error: no PNG/JPEG images in {empty}" in failed.stderr
    assert "dry run OK" not in failed.stdout

    missing = _dry_run("--data", str(tmp_path / "missing"), scratch=tmp_path)
    assert missing.returncode == 2
    assert f"error: dataset folder not found: {tmp_path / 'missing'}" in missing.stderr


def test_dry_run_of_a_recipe_keeps_its_small_batch(tmp_path):
    """A recipe's own batch size (Pixel heroes: 64) is for real runs; the try-out stays 2 x 8."""
    data = _few_images(tmp_path)
    done = _dry_run("--recipe", "pixel-heroes", "--data", str(data), scratch=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dry run OK: 2 steps of batch 8 on 10 images" in done.stdout


def test_an_unknown_recipe_is_refused_with_the_list(tmp_path):
    failed = _dry_run("--recipe", "no-such", "--data", str(tmp_path), scratch=tmp_path)
    assert failed.returncode == 2
    assert "no training recipe named 'no-such' (known: galactic-droids, pixel-heroes" in failed.stderr
