"""Every shipped theme is complete (weights, grid, metrics, training fingerprints) and sells end to end."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from effigies.themes.service import BUILTIN_THEMES, PRETRAINED_DIR
from effigies.training.evaluate import FINGERPRINT, METRICS_FORMAT
from effigies.uniqueness.training_set import read_training_fingerprints
from tests.conftest import wait_generation

SLUGS = [spec.slug for spec in BUILTIN_THEMES]


def test_four_themes_ship_within_the_size_budget():
    assert len(SLUGS) >= 4
    total = sum((PRETRAINED_DIR / slug / "generator.safetensors").stat().st_size for slug in SLUGS)
    assert total <= 40 * 1024 * 1024, f"shipped generators weigh {total / 2**20:.1f} MiB"


@pytest.mark.parametrize("slug", SLUGS)
def test_shipped_theme_folder_is_complete(slug):
    folder = PRETRAINED_DIR / slug
    for name in ("generator.safetensors", "generator.json", "samples.png", "ATTRIBUTION.txt",
                 "metrics.json", "training_fingerprints.safetensors"):
        assert (folder / name).is_file(), f"{slug}: {name} missing"
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("swd", "originality", "diversity"):
        assert key in metrics, f"{slug}: metrics.json lacks {key}"
    # The figures must describe these weights and the registry's fingerprint, measured
    # against the very training fingerprints that ship.
    meta = json.loads((folder / "generator.json").read_text())
    assert metrics["generator_sha256"] == meta["weights_sha256"], f"{slug}: metrics of other weights"
    assert metrics["format"] == METRICS_FORMAT and metrics["fingerprint"] == FINGERPRINT
    training = read_training_fingerprints(folder)
    assert training.dataset == slug and metrics["training_images"] == training.count > 0


@pytest.mark.parametrize("slug", SLUGS)
def test_journey_works_with_every_shipped_theme(slug, make_user, client):
    listed = {t["slug"] for t in client.get("/api/themes").json()}
    assert slug in listed
    user, _ = make_user(balance_cents=100)
    job = user.post(f"/api/themes/{slug}/generations", json={"count": 2})
    assert job.status_code in (201, 202), job.text
    body = wait_generation(user, job.json()["id"])
    assert body["status"] == "done", body
    preview = user.get(body["candidates"][0]["preview_url"])
    assert preview.status_code == 200
    bought = user.post(f"/api/candidates/{body['candidates'][0]['id']}/purchase", json={"withdrawal_waiver": True})
    assert bought.status_code == 201, bought.text
    public_id = bought.json()["avatar"]["public_id"]
    image = client.get(f"/a/{public_id}.png", params={"s": 128})
    assert Image.open(io.BytesIO(image.content)).size == (128, 128)


@pytest.mark.parametrize("slug", SLUGS)
def test_shipped_generator_was_trained_by_its_recipe(slug):
    """`effigies train --theme SLUG` retrains what ships: same width, dataset, length and options."""
    from effigies.training.recipes import get_recipe

    recipe = get_recipe(slug)
    meta = json.loads((PRETRAINED_DIR / slug / "generator.json").read_text())
    assert meta["config"]["ngf"] == meta["config"]["ndf"] == recipe.width
    for key, value in recipe.model.items():
        assert meta["config"][key] == value, f"{slug}: {key} is {meta['config'][key]!r}, its recipe says {value!r}"
    # Exports made before the loss was an option do not record it: BCE was the only one.
    trained = {"loss": "bce", **meta["training"]}
    for key in ("loss", "lr_g", "lr_d", "r1_gamma", "lecam", "diffaugment"):
        if recipe.options.get(key):
            assert trained.get(key) == recipe.options[key], f"{slug}: trained with another {key}"
    assert meta["dataset_name"] == slug
    assert meta["images_seen"] > 0
    if recipe.ema_images:
        assert meta["training"]["ema_images"] == recipe.ema_images


def test_the_pixel_art_generator_draws_crisp_cells_of_its_palette():
    """Pixel heroes delivers 64 px images made of constant 4x4 cells, in its training palette only."""

    from effigies.gan.checkpoint import load_generator
    from effigies.gan.sample import latents, sample

    generator, config = load_generator(PRETRAINED_DIR / "pixel-heroes")
    assert config.image_size == 16 and config.palette > 0
    images = sample(generator, latents(64, config.nz, seed=0))
    assert images.shape == (64, 64, 64, 3)
    blocks = images.reshape(64, 16, 4, 16, 4, 3)
    assert (blocks.max(axis=(2, 4)) == blocks.min(axis=(2, 4))).all(), "a 4x4 cell is not one colour"
    palette = {tuple(c) for c in generator.palette.tolist()}
    assert {tuple(p) for p in images.reshape(-1, 3).tolist()} <= palette


def test_transparent_themes_ship_transparent_generators():
    """A theme whose art is transparent (Emoji folk and Galactic droids since 2026-12-02) draws alpha: its avatars' corners
    are see-through, the figure opaque, and nothing in between is G's near-0 or near-255 noise."""
    from effigies.gan.checkpoint import load_generator
    from effigies.gan.sample import ALPHA_CLEAN, latents, sample

    rgba = [s for s in SLUGS if json.loads((PRETRAINED_DIR / s / "generator.json").read_text())["config"].get("nc") == 4]
    assert {"emoji-folk", "galactic-droids"} <= set(rgba)
    for slug in rgba:
        generator, config = load_generator(PRETRAINED_DIR / slug)
        alpha = sample(generator, latents(32, config.nz, seed=0))[..., 3].astype(int)
        corners = alpha[:, [0, 0, -1, -1], [0, -1, 0, -1]]
        # Most corners are exactly transparent; G leaves a faint speck (alpha 36-78 measured for
        # Emoji folk) on about one corner pixel in seven: a known flaw, but never an opaque square.
        assert (corners == 0).mean() >= 0.8 and corners.max() < 128, f"{slug}: corners not transparent"
        assert (alpha[:, 24:40, 24:40] == 255).mean() >= 0.8, f"{slug}: figure not opaque"
        soft = alpha[(alpha > 0) & (alpha < 255)]
        assert soft.size == 0 or (soft.min() >= ALPHA_CLEAN and soft.max() <= 255 - ALPHA_CLEAN)
