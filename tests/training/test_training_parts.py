"""The parts of a training run that need no servers: presets, progress bookkeeping, error texts."""
from __future__ import annotations

import json

import pytest

from effigies.config import Settings
from effigies.training import presets
from effigies.training.runner import Tracker, downsample, readable_error


def test_presets_follow_the_shipped_recipe_and_quick_is_configurable():
    settings = Settings(EE_TRAINING_QUICK_IMAGES=512)
    table = presets.presets(settings)
    assert [(p.name, p.total_images) for p in table.values()] == [("quick", 512), ("standard", 300_000), ("long", 600_000)]
    small = presets.training_options(table["quick"], n_images=64, settings=settings, seed=3)
    assert small["diffaugment"] == "color,translation,cutout" and small["diffaugment_on"] is True and small["width"] == 32
    assert small["instance_noise_images"] == 512  # the noise is gone before the end of a short run
    assert small["log_every"] == 1  # 8 steps: every one of them is reported
    big = presets.training_options(table["standard"], n_images=12_150, settings=settings, seed=3)
    assert big["diffaugment_on"] is True and big["instance_noise_images"] == 200_000 and big["log_every"] == 10
    assert big["checkpoint_every_s"] == settings.training_checkpoint_s


def test_a_grid_theme_trains_its_grid_with_a_palette_and_an_rgba_set_trains_alpha():
    settings = Settings(EE_TRAINING_QUICK_IMAGES=512)
    quick = presets.presets(settings)["quick"]
    plain = presets.training_options(quick, n_images=300, settings=settings, seed=1)
    assert (plain["image_size"], plain["palette"], plain["nc"]) == (64, 0, 3)
    grid = presets.training_options(quick, n_images=300, settings=settings, seed=1, pixel_grid=16, channels=4)
    assert (grid["image_size"], grid["palette"], grid["nc"]) == (16, presets.PALETTE_COLOURS, 4)


def test_a_set_is_rgba_when_most_of_its_files_carry_alpha(tmp_path):
    from PIL import Image

    assert presets.dataset_channels(tmp_path / "missing") == 3
    for i in range(5):
        Image.new("RGBA" if i < 3 else "RGB", (64, 64)).save(tmp_path / f"{i}.png")
    assert presets.dataset_channels(tmp_path) == 4
    (tmp_path / "0.png").unlink()
    (tmp_path / "1.png").unlink()
    assert presets.dataset_channels(tmp_path) == 3  # 1 of 3


def test_a_lease_shorter_than_three_heartbeats_is_refused():
    with pytest.raises(ValueError, match="EE_TRAINING_LEASE_S"):
        Settings(EE_TRAINING_HEARTBEAT_S=5, EE_TRAINING_LEASE_S=10)


def test_count_images_counts_what_the_trainer_loads(tmp_path):
    assert presets.count_images(tmp_path / "missing") == 0
    for name in ("a.png", "b.JPG", "c.jpeg", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    assert presets.count_images(tmp_path) == 3


def test_the_loss_chart_keeps_at_most_200_points_of_bucket_means():
    points = [[i * 128, float(i % 2), 2.0] for i in range(1, 1001)]
    short = downsample(points)
    assert len(short) == 200 and short[0] == [5 * 128, 0.6, 2.0] and short[-1][0] == 1000 * 128
    assert downsample(points[:50]) == points[:50]


def test_a_resumed_run_rebuilds_its_loss_history_from_the_stats_file(tmp_path):
    stats = [{"step": s, "images": s * 64, "loss_d": 1.0, "loss_g": 2.0} for s in (1, 2, 3)]
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stats) + "not json\n")
    tracker = Tracker(tmp_path, {"phase": "queued", "swd": [[64, 500.0]], "losses": [[1, 1, 1]]})
    tracker.on_event({"event": "start", "step": 3, "images": 192, "total": 640, "resumed": True})
    tracker.on_event({"event": "step", "step": 4, "images": 256, "loss_d": 0.5, "loss_g": 3.0})
    tracker.on_event({"event": "sample", "images": 256, "path": str(tmp_path / "samples" / "step_000004.png")})
    tracker.add_swd(256, 400.0)
    snap = tracker.snapshot()
    assert snap["losses"] == [[64, 1.0, 2.0], [128, 1.0, 2.0], [192, 1.0, 2.0], [256, 0.5, 3.0]]
    assert snap["resumed_from_images"] == 192 and snap["phase"] == "training"
    assert snap["sample"] == "samples/step_000004.png" and snap["sample_images"] == 256
    assert snap["swd"] == [[64, 500.0], [256, 400.0]]


def test_errors_are_told_in_words():
    assert "dataset folder is missing" in readable_error(FileNotFoundError("dataset folder not found: x"))
    assert "no usable images" in readable_error(ValueError("no PNG/JPEG images in x"))
    assert "ran out of memory" in readable_error(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert "KeyError" in readable_error(KeyError("width"))


def test_a_run_trains_an_upscaler_only_with_enough_pairs_and_never_for_pixel_art():
    settings = Settings(EE_TRAINING_QUICK_IMAGES=512)
    quick = presets.presets(settings)["quick"]
    enough = presets.MIN_UPSCALER_PAIRS

    def steps(**kwargs):
        return presets.training_options(quick, n_images=300, settings=settings, seed=1, **kwargs)["upscaler_steps"]

    assert steps(large_images=enough) == presets.UPSCALER_STEPS == 1500
    assert steps(large_images=enough - 1) == steps() == 0  # too few to learn from: Lanczos
    assert steps(large_images=300, pixel_art=True) == steps(large_images=300, pixel_grid=16) == 0
    options = presets.training_options(quick, n_images=300, settings=settings, seed=1, large_images=80)
    assert (options["upscaler_pairs"], options["upscaler_batch_size"], options["upscaler_crop"]) == (80, 32, 32)


def test_count_large_images_counts_the_pairs_the_upscaler_loads(tmp_path):
    from effigies.themes.large_images import LARGE_DIR

    assert presets.count_large_images(tmp_path / "missing") == 0
    (tmp_path / LARGE_DIR).mkdir()
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(b"x")
    for name in ("a.png", "b.png", "orphan.png", ".b.png"):
        (tmp_path / LARGE_DIR / name).write_bytes(b"x")
    assert presets.count_large_images(tmp_path) == 2
    assert presets.count_images(tmp_path) == 3  # the sub-folder is not part of the 64 px set
