"""An admin's upload of large images gives its theme an upscaler: the upload keeps their 256 px
versions, the training run trains the 64 -> 256 px network after the generator and exports it
beside it, and the shop's masters come from it. Real stack (upload API, train worker); tiny runs:
width 8, 256 images, 20 upscaler steps of 4 crops of 16 px. Pixel art keeps none and trains none;
small images only: test_pixel_themes (its runs end without one). A run whose pairs vanished fails."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
from PIL import Image

from tests.themes.archives import build_zip, shape_entries
from tests.training.helpers import theme_status, theme_versions, wait_for

pytestmark = pytest.mark.slow

FIELDS = {"name": "Shapes test", "attribution": "Shapes drawn by the test (CC0 1.0)."}
TINY = {"width": 8, "upscaler_steps": 20, "upscaler_batch_size": 4, "upscaler_crop": 16}


def _upload(admin, entries, **fields) -> tuple[str, dict]:
    slug = f"up-{uuid.uuid4().hex[:8]}"
    response = admin.post("/api/admin/themes", data={**FIELDS, "slug": slug, **fields},
                          files={"archive": ("examples.zip", build_zip(entries), "application/zip")})
    assert response.status_code == 201, response.text
    return slug, response.json()


def test_an_upload_of_large_images_trains_an_upscaler_that_makes_the_masters(stack, make_user):
    from effigies.generation.master import make_master
    from effigies.db import session_scope
    from effigies.gan.checkpoint import load_generator
    from effigies.gan.sample import latents, sample
    from effigies.gan.upscale import load_upscaler
    from effigies.themes.large_images import LARGE_DIR
    from effigies.themes.service import resolve_weights_dir
    from effigies.training import runner, service

    admin, _ = make_user(role="admin")
    slug, created = _upload(admin, shape_entries(220, large=80))  # 80 at 256-320 px, 140 at 64-200 px
    assert (created["images"], created["large_images"], created["transparent"]) == (220, 80, False)
    folder = stack.data_dir / "datasets" / slug
    large = sorted((folder / LARGE_DIR).iterdir())
    assert len(large) == 80 and all((folder / p.name).is_file() for p in large)  # pairs by file name
    with Image.open(large[0]) as first:
        assert (first.size, first.mode) == ((256, 256), "RGB")
    assert len(list(folder.glob("*.png"))) == 220  # the 64 px set itself is unchanged

    with session_scope() as session:
        run = service.start_run(session=session, slug=slug, preset="quick", user_id=None, overrides=TINY)
        run_id, queue = run.id, run.queue
    assert run.options["upscaler_pairs"] == 80
    service.enqueue(run_id, queue)
    body = wait_for(lambda: (b := admin.get(f"/api/admin/training-runs/{run_id}").json())["status"]
                    not in ("queued", "running") and b, 300, "the tiny run to end", interval=0.5)
    assert body["status"] == "done", body
    progress = body["progress"]
    assert progress["upscaler_step"] == progress["upscaler_steps"] == 20 and progress["upscaler_loss"] > 0
    assert (service.run_dir(run_id) / "upscaler" / "checkpoints" / "upscaler_latest.json").is_file()  # resumable there

    (version,) = theme_versions(slug)
    weights = resolve_weights_dir(version.weights_dir)
    assert (weights / "generator.safetensors").is_file() and (weights / "upscaler.safetensors").is_file()
    network = load_upscaler(weights)
    assert network.meta["training"]["pairs"] == 80 and network.meta["training"]["step"] == 20

    generator, config = load_generator(weights)
    avatar = Image.fromarray(sample(generator, latents(1, config.nz, seed=4))[0])
    master = make_master(avatar, pixel_art=False, weights_dir=weights)
    assert (master.size, master.mode) == ((256, 256), "RGB")
    assert np.array_equal(np.asarray(master), network(np.asarray(avatar)))  # the theme's own network...
    lanczos = np.asarray(avatar.resize((256, 256), Image.Resampling.LANCZOS), dtype=np.int16)
    assert np.abs(np.asarray(master, dtype=np.int16) - lanczos).mean() > 0.5  # ...not the smooth default
    assert runner.execute(run_id) == "skipped"  # a duplicate message for the finished run does nothing


def test_a_pixel_art_upload_of_large_images_keeps_none_and_its_runs_train_no_upscaler(stack, make_user):
    from effigies.db import session_scope
    from effigies.training import service

    admin, _ = make_user(role="admin")
    slug, created = _upload(admin, shape_entries(220, large=80), pixel_art="true")
    assert created["theme"]["pixel_art"] is True and created["large_images"] == 0
    assert not (stack.data_dir / "datasets" / slug / "large").exists()
    with session_scope() as session:  # nobody listens to this queue: the run is only looked at
        run = service.start_run(session=session, slug=slug, preset="quick", user_id=None, queue="nobody-listens")
        assert (run.options["upscaler_steps"], run.options["upscaler_pairs"]) == (0, 0)
        service.request_cancel(session=session, run_id=run.id)


def test_a_run_whose_256_px_versions_vanished_fails_in_words_and_makes_no_version(stack, make_user):
    import shutil

    from effigies.db import session_scope
    from effigies.themes.large_images import LARGE_DIR
    from effigies.training import service

    admin, _ = make_user(role="admin")
    slug, _ = _upload(admin, shape_entries(220, large=80))
    with session_scope() as session:
        run = service.start_run(session=session, slug=slug, preset="quick", user_id=None, overrides=TINY)
        run_id, queue = run.id, run.queue
    shutil.rmtree(stack.data_dir / "datasets" / slug / LARGE_DIR)  # after the run was started with 80 pairs
    service.enqueue(run_id, queue)
    body = wait_for(lambda: (b := admin.get(f"/api/admin/training-runs/{run_id}").json())["status"]
                    not in ("queued", "running") and b, 300, "the tiny run to end", interval=0.5)
    assert body["status"] == "failed" and "256 px versions of the theme's images are missing" in body["error"], body
    assert body["progress"]["phase"] == "failed" and body["model_version_id"] is None
    assert theme_versions(slug) == [] and theme_status(slug) == "draft"  # nothing to publish
