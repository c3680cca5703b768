"""The upscaler step of a training run (effigies.training.upscaling) on its own: no servers, a set
made by the upload check itself, tiny steps. The whole run through the worker: test_upscaler_runs."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from effigies.themes import uploads
from effigies.themes.large_images import LARGE_DIR
from effigies.training import upscaling
from effigies.training.runner import Tracker, readable_error
from tests.themes.archives import build_zip, shape_entries

STEPS = 24
OPTIONS = {"upscaler_steps": STEPS, "upscaler_batch_size": 4, "upscaler_crop": 16, "seed": 3, "checkpoint_every_s": 600}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Where an upload of 40 shapes (30 of them at 256-320 px) is stored, as admin._write_dataset lays it out."""
    folder = tmp_path_factory.mktemp("set")
    report = uploads.process_archive(io.BytesIO(build_zip(shape_entries(40, large=30))),
                                     limits=uploads.Limits(min_images=3))
    assert report.ok and report.large_images == 30
    (folder / LARGE_DIR).mkdir()
    for index, image in enumerate(report.images):
        (folder / f"{index:05d}.png").write_bytes(image.png)
        if image.large is not None:
            (folder / LARGE_DIR / f"{index:05d}.png").write_bytes(image.large)
    return folder


def _step(dataset, run, export, tracker, abort_fn=lambda: False) -> bool:
    return upscaling.train_and_export(run_folder=run, data=dataset, export_dir=export, options=OPTIONS,
                                      tracker=tracker, abort_fn=abort_fn)


def test_a_stopped_step_resumes_from_its_checkpoint_and_a_finished_one_only_exports_again(dataset, tmp_path):
    from effigies.generation.master import make_master
    from effigies.gan.upscale import load_upscaler

    run, first_export = tmp_path / "run", tmp_path / "weights-1"
    tracker = Tracker(run, {"phase": "exporting"})
    calls = {"n": 0}

    def stop_after(n: int):
        def should_abort() -> bool:
            calls["n"] += 1
            return calls["n"] > n
        return should_abort

    assert _step(dataset, run, first_export, tracker, stop_after(21)) is False  # cancelled, lease lost, shutdown
    assert not first_export.exists()
    pointer = run / upscaling.UPSCALER_RUN / "checkpoints" / "upscaler_latest.json"
    assert json.loads(pointer.read_text())["step"] == 21
    snap = tracker.snapshot()
    assert (snap["phase"], snap["upscaler_step"], snap["upscaler_steps"]) == ("upscaling", 20, STEPS)
    assert snap["upscaler_loss"] > 0 and snap["eta_s"] > 0

    calls["n"] = 0  # the next attempt: a fresh weights folder, the same run folder
    second_export = tmp_path / "weights-2"
    assert _step(dataset, run, second_export, tracker, stop_after(10**6)) is True
    assert calls["n"] == STEPS - 21  # it went on from step 21, not from 0
    meta = json.loads((second_export / "upscaler.json").read_text())
    assert meta["training"]["step"] == STEPS and meta["training"]["pairs"] == 30
    assert tracker.snapshot()["upscaler_step"] == STEPS and tracker.snapshot()["eta_s"] is None

    calls["n"] = 0  # run again once finished (a duplicate attempt): no step, the same weights
    third_export = tmp_path / "weights-3"
    assert _step(dataset, run, third_export, tracker, stop_after(10**6)) is True and calls["n"] == 0
    assert (third_export / "upscaler.safetensors").read_bytes() == (second_export / "upscaler.safetensors").read_bytes()

    # What the shop does with it: the master of a 64 px avatar is the upscaler's, not Lanczos.
    with Image.open(sorted(dataset.glob("*.png"))[0]) as image:
        avatar = image.convert("RGB")
    master = make_master(avatar, pixel_art=False, weights_dir=second_export)
    assert master.size == (256, 256) and master.mode == "RGB"
    assert np.array_equal(np.asarray(master), load_upscaler(second_export)(np.asarray(avatar)))


def test_a_step_whose_pairs_vanished_fails_in_words(dataset, tmp_path):
    emptied = tmp_path / "set"
    shutil.copytree(dataset, emptied)
    shutil.rmtree(emptied / LARGE_DIR)
    with pytest.raises(upscaling.UpscalerFailed) as failure:
        _step(emptied, tmp_path / "run", tmp_path / "weights", Tracker(tmp_path, {}))
    assert "256 px versions of the theme's images are missing" in readable_error(failure.value)
    assert "No model version was made" in str(failure.value)
    assert not (tmp_path / "weights" / "upscaler.safetensors").exists()
