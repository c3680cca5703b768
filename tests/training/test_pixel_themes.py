"""Themes an admin uploads train on what the upload declared or carried: a pixel grid (the
generator draws the cells, in the set's own palette) and transparency (it draws alpha). Real
stack: the upload API, the train worker, the exported generator; tiny runs (width 8, 256 images)."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
from PIL import Image

from tests.themes.archives import build_zip, grid_entries, transparent_entries
from tests.training.helpers import theme_versions, wait_for

pytestmark = pytest.mark.slow

FIELDS = {"name": "Pixel test", "attribution": "Samples of the Pixel heroes generator (CC0 1.0).", "pixel_art": "true"}


def _upload(admin, entries, **fields) -> tuple[str, dict]:
    slug = f"pix-{uuid.uuid4().hex[:8]}"
    response = admin.post("/api/admin/themes", data={**FIELDS, "slug": slug, **fields},
                          files={"archive": ("examples.zip", build_zip(entries), "application/zip")})
    assert response.status_code == 201, response.text
    return slug, response.json()


def _train(admin, slug: str) -> dict:
    """A quick run (256 images) at width 8, through the train worker; its finished body."""
    from effigies.db import session_scope
    from effigies.training import service

    with session_scope() as session:
        run = service.start_run(session=session, slug=slug, preset="quick", user_id=None, overrides={"width": 8})
        run_id, queue = run.id, run.queue
    service.enqueue(run_id, queue)
    body = wait_for(lambda: (b := admin.get(f"/api/admin/training-runs/{run_id}").json())["status"]
                    not in ("queued", "running") and b, 300, "the tiny run to end", interval=0.5)
    assert body["status"] == "done", body
    return body


def _generator(slug: str):
    from effigies.gan.checkpoint import load_generator
    from effigies.themes.service import resolve_weights_dir

    (version,) = theme_versions(slug)
    return load_generator(resolve_weights_dir(version.weights_dir))


def _no_upscaler(stack, slug: str, body: dict) -> None:
    """Small images only (16 and 64 px): no 256 px versions kept, no upscaler trained or exported,
    so the theme's masters are nearest-neighbour (pixel art) or Lanczos (effigies.generation.master)."""
    from effigies.themes.service import resolve_weights_dir

    (version,) = theme_versions(slug)
    assert not (stack.data_dir / "datasets" / slug / "large").exists()
    assert body["options"]["upscaler_steps"] == 0 and body["progress"]["upscaler_step"] is None
    assert not (resolve_weights_dir(version.weights_dir) / "upscaler.safetensors").exists()


def _colours(pixels: np.ndarray) -> set[tuple[int, ...]]:
    return set(map(tuple, pixels.reshape(-1, pixels.shape[-1]).tolist()))


def test_a_pixel_grid_theme_trains_a_generator_that_draws_its_cells_in_its_palette(stack, make_user):
    from effigies.gan.sample import latents, sample
    from effigies.training.presets import PALETTE_COLOURS

    admin, _ = make_user(role="admin")
    slug, created = _upload(admin, grid_entries(), pixel_grid="16")
    assert created["theme"]["pixel_grid"] == 16
    body = _train(admin, slug)
    assert (body["options"]["image_size"], body["options"]["palette"], body["options"]["nc"]) == (16, PALETTE_COLOURS, 3)
    _no_upscaler(stack, slug, body)

    generator, config = _generator(slug)
    assert (config.image_size, config.palette, config.nc) == (16, PALETTE_COLOURS, 3)
    palette = _colours(generator.palette.cpu().numpy())
    stored = np.stack([np.asarray(Image.open(p)) for p in sorted((stack.data_dir / "datasets" / slug).glob("*.png"))])
    assert palette <= _colours(stored)  # learned from the set: its own colours, none blended

    images = sample(generator, latents(32, config.nz, seed=5))
    assert images.shape == (32, 64, 64, 3)
    blocks = images.reshape(32, 16, 4, 16, 4, 3)
    assert (blocks == blocks[:, :, :1, :, :1]).all()  # constant 4x4 cells at the delivered 64 px
    assert _colours(images) <= palette


def test_a_transparent_upload_keeps_alpha_and_trains_a_generator_that_draws_it(stack, make_user):
    from effigies.gan.sample import latents, sample

    admin, _ = make_user(role="admin")
    slug, created = _upload(admin, transparent_entries())
    assert created["transparent"] is True and created["images"] == 220
    files = sorted((stack.data_dir / "datasets" / slug).glob("*.png"))
    with Image.open(files[0]) as first:
        assert first.mode == "RGBA"
        alpha = np.asarray(first)[..., 3]
    assert alpha[0, 0] == 0 and alpha[32, 32] == 255 and ((alpha > 0) & (alpha < 255)).any()

    body = _train(admin, slug)
    assert (body["options"]["nc"], body["options"]["image_size"], body["options"]["palette"]) == (4, 64, 0)
    _no_upscaler(stack, slug, body)
    generator, config = _generator(slug)
    assert config.nc == 4
    assert sample(generator, latents(4, config.nz, seed=1)).shape == (4, 64, 64, 4)
