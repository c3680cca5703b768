"""Transparent images are fingerprinted on the one white composite, as old RGB ones were."""
from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from effigies.gan.alpha import composite
from effigies.uniqueness import fingerprint as fp
from effigies.uniqueness.training_set import fingerprint_dataset, read_training_fingerprints


def _rgba(seed: int = 0) -> np.ndarray:
    """A 64 px RGBA image with opaque, soft and fully transparent parts, and noise stored under alpha 0."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    y, x = np.mgrid[:64, :64]
    image[..., 3] = np.clip((24 - np.hypot(x - 32, y - 32)) * 40, 0, 255).astype(np.uint8)
    return image


def test_an_rgba_image_is_fingerprinted_on_white_and_what_hides_under_alpha_0_does_not_count():
    image = _rgba()
    expected = fp.fingerprint(Image.fromarray(composite(image[None])[0]))
    assert fp.fingerprint(Image.fromarray(image)) == expected
    other_hidden = image.copy()
    hidden = other_hidden[..., 3] == 0
    other_hidden[hidden, :3] = 255 - other_hidden[hidden, :3]
    assert fp.fingerprint(Image.fromarray(other_hidden)) == expected
    # What convert("RGB") would have done: the arbitrary hidden colours move the fingerprint.
    assert fp.fingerprint(Image.fromarray(image).convert("RGB")) != expected
    # Greyscale with alpha is composited the same way.
    grey = Image.fromarray(image).convert("LA")
    assert fp.fingerprint(grey) == fp.fingerprint(Image.fromarray(composite(np.asarray(grey.convert("RGBA"))[None])[0]))


def test_an_rgb_fingerprint_is_unchanged():
    rgb = _rgba(1)[..., :3]
    old = imagehash.phash(Image.fromarray(rgb.max(axis=2)), hash_size=16).hash.reshape(-1)
    assert fp.fingerprint(Image.fromarray(rgb)) == np.packbits(old).tobytes()
    # An opaque RGBA image is the same picture as its RGB: the same fingerprint.
    opaque = np.dstack([rgb, np.full((64, 64), 255, np.uint8)])
    assert fp.fingerprint(Image.fromarray(opaque)) == fp.fingerprint(Image.fromarray(rgb))


def test_training_images_are_fingerprinted_on_the_same_white_composite(tmp_path):
    from effigies.training import evaluate

    data = tmp_path / "set"
    data.mkdir()
    images = [_rgba(seed) for seed in range(5)]
    for i, image in enumerate(images):
        Image.fromarray(image).save(data / f"{i:03d}.png")
    Image.fromarray(images[0][..., :3]).save(data / "opaque.png")  # RGB files sit beside RGBA ones
    path = fingerprint_dataset(data, tmp_path / "out")
    info = read_training_fingerprints(path)
    flat = [composite(image[None])[0] for image in images] + [images[0][..., :3]]
    assert info.as_bytes() == [fp.fingerprint(Image.fromarray(image)) for image in flat]
    assert info.dataset == "set" and info.count == 6
    # Byte for byte what the earlier RGB themes' files hold (flattened on white, then hashed).
    old = read_training_fingerprints(evaluate.hash_dataset(data, tmp_path / "old"))
    assert np.array_equal(info.values, old.values) and info.dataset_sha256 == old.dataset_sha256
