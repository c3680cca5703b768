from __future__ import annotations

import io
import json
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console
from safetensors.numpy import save_file

from effigies.gan.checkpoint import export_generator, load_generator
from effigies.gan.config import DCGANConfig
from effigies.gan.data import load_image
from effigies.gan.model import build_models
from effigies.gan.quality import c2st, density_coverage
from effigies.gan.sample import composite, latents, sample
from effigies.training import evaluate
from effigies.training.eval_cli import eval_command
from effigies.training.evaluate import as_matrix, diversity, near_any, originality
from effigies.uniqueness.fingerprint import BYTES, fingerprint, hamming
from effigies.uniqueness.training_set import (
    FORMAT,
    TRAINING_FINGERPRINTS_FILE,
    read_training_fingerprints,
    write_training_fingerprints,
)

RNG = np.random.default_rng(0)
R = 20


def random_fingerprints(n: int) -> list[bytes]:
    return [bytes(row) for row in RNG.integers(0, 256, size=(n, BYTES), dtype=np.uint8)]


def far_apart(n: int) -> list[bytes]:
    """``n`` random fingerprints, pairwise more than 3 R apart."""
    out: list[bytes] = []
    while len(out) < n:
        (v,) = random_fingerprints(1)
        if all(hamming(v, o) > 3 * R for o in out):
            out.append(v)
    return out


def flip(value: bytes, bits: int, offset: int = 0) -> bytes:
    """``value`` with ``bits`` of its bits flipped, from bit ``offset`` on (the top bit is bit 0)."""
    number = int.from_bytes(value, "big")
    for i in range(bits):
        number ^= 1 << (8 * BYTES - 1 - (offset + i) % (8 * BYTES))
    return number.to_bytes(BYTES, "big")


def test_flip_moves_exactly_that_many_bits():
    (v,) = random_fingerprints(1)
    assert [hamming(v, flip(v, d, offset=250)) for d in (0, 1, 6, 21)] == [0, 1, 6, 21]


def test_bytes_and_packed_arrays_are_the_same_fingerprints():
    values = random_fingerprints(5)
    matrix = as_matrix(values)
    assert matrix.dtype == np.uint8 and matrix.shape == (5, BYTES)
    assert [bytes(row) for row in matrix] == values
    assert near_any(values, matrix[2:3], radius=0).tolist() == [False, False, True, False, False]
    with pytest.raises(ValueError):
        as_matrix([values[0], values[1][:16]])
    with pytest.raises(ValueError):
        as_matrix(matrix.astype(np.int64))


def test_originality_counts_samples_within_radius_of_any_training_fingerprint():
    training = far_apart(10)
    # Copies of training image 0 at 0..R+4 bits (every 4), then 3 unrelated samples.
    distances = list(range(0, R + 5, 4))  # 0, 4, ..., 24: all but 24 within R
    samples = [flip(training[0], d, offset=7 * d) for d in distances] + far_apart(3)
    near = near_any(samples, training, radius=R)
    assert near.tolist() == [d <= R for d in distances] + [False] * 3
    assert originality(samples, training, radius=R) == pytest.approx(6 / 10)
    assert originality(samples, training, radius=R + 4) == pytest.approx(7 / 10)
    assert originality(samples, training, radius=0) == pytest.approx(1 / 10)
    assert originality([], training, radius=R) == 0.0


def test_diversity_counts_samples_with_no_near_sibling():
    b = far_apart(4)
    samples = [b[0], flip(b[0], 15), b[1], b[2], flip(b[2], 25), b[3], b[3]]
    # R=20: b0 and its 15-bit copy, and the two exact b3 copies, have a sibling -> 3 of 7 are alone.
    assert diversity(samples, radius=R) == pytest.approx(3 / 7)
    # R=25: the 25-bit copy of b2 joins them -> only b1 is alone.
    assert diversity(samples, radius=25) == pytest.approx(1 / 7)
    # R=10: only the exact duplicates are too close.
    assert diversity(samples, radius=10) == pytest.approx(5 / 7)
    assert diversity(b, radius=R) == 1.0
    assert diversity(b[:1], radius=R) == 1.0


def test_chunked_results_equal_brute_force():
    base = random_fingerprints(300)
    # Near-copies planted both before and after their original, across chunk boundaries;
    # the last one just outside the radius.
    planted = [flip(base[i], d) for d, i in zip((0, 3, 7, 12, 16, 19, R, R + 1), range(150, 300, 19))]
    queries = planted + base[:150]
    brute = [any(hamming(q, r) <= R for r in base[150:]) for q in queries]
    assert brute == [True] * 7 + [False] * 151
    assert near_any(queries, base[150:], radius=R, chunk_pairs=500).tolist() == brute
    mixed = base[:100] + planted + base[100:]
    brute_self = [any(hamming(q, r) <= R for j, r in enumerate(mixed) if j != i) for i, q in enumerate(mixed)]
    assert sum(brute_self) == 2 * 7
    for chunk in (1, 700, 5_000, 1 << 20):
        assert near_any(mixed, mixed, radius=R, exclude_self=True, chunk_pairs=chunk).tolist() == brute_self


def test_ten_thousand_by_twelve_thousand_fits_in_tens_of_megabytes():
    training = RNG.integers(0, 256, size=(12_000, BYTES), dtype=np.uint8)
    # Peak memory depends on the chunk, not on the number of queries: 1,500 show it.
    samples = RNG.integers(0, 256, size=(1_500, BYTES), dtype=np.uint8)
    tracemalloc.start()
    try:
        assert originality(samples, training, radius=R) == 0.0
        assert diversity(samples, radius=R) == 1.0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    # How fast (~2.5 s for 10k x 12k on the 2-core development machine) is for a benchmark to
    # measure, not for a test on a shared machine to time.


@pytest.fixture
def dataset(tmp_path):
    """24 PNGs: coloured squares, some on a transparent canvas."""
    d = tmp_path / "dataset"
    d.mkdir()
    rng = np.random.default_rng(1)
    for i in range(24):
        img = np.zeros((64, 64, 4), dtype=np.uint8)
        img[..., 3] = 255 if i % 2 else 0
        x, y, s = (int(v) for v in rng.integers(4, 30, 3))
        img[y : y + s, x : x + s] = [*rng.integers(0, 256, 3), 255]
        Image.fromarray(img, "RGBA").save(d / f"img_{i:03d}.png")
    return d


def test_training_fingerprint_file_round_trip(dataset, tmp_path):
    path = evaluate.hash_dataset(dataset, tmp_path)
    assert path.name == TRAINING_FINGERPRINTS_FILE
    info = read_training_fingerprints(tmp_path)
    expected = [fingerprint(Image.fromarray(load_image(p), mode="RGB")) for p in sorted(dataset.glob("*.png"))]
    assert info.values.dtype == np.uint8 and info.values.shape == (24, BYTES)
    assert info.as_bytes() == expected and info.count == 24
    assert info.dataset == "dataset" and len(info.dataset_sha256) == 64
    # Same folder, same digest; any changed byte, another one.
    evaluate.hash_dataset(dataset, tmp_path / "again")
    assert read_training_fingerprints(tmp_path / "again").dataset_sha256 == info.dataset_sha256
    (dataset / "img_000.png").write_bytes((dataset / "img_001.png").read_bytes())
    evaluate.hash_dataset(dataset, tmp_path / "changed")
    assert read_training_fingerprints(tmp_path / "changed").dataset_sha256 != info.dataset_sha256
    # bytes in, the same bytes out, the top bit included; no temp file left behind.
    values = [b"\x80" + b"\x00" * (BYTES - 1), b"\xff" * BYTES, bytes(BYTES)]
    write_training_fingerprints(tmp_path, values, dataset_sha256="x")
    assert read_training_fingerprints(tmp_path).as_bytes() == values
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [TRAINING_FINGERPRINTS_FILE]
    write_training_fingerprints(tmp_path, [], dataset_sha256="x")
    assert read_training_fingerprints(tmp_path).count == 0


def test_training_fingerprint_file_refuses_other_content(tmp_path):
    path = tmp_path / TRAINING_FINGERPRINTS_FILE
    good = {"format": FORMAT, "count": "3", "dataset_sha256": "x", "dataset": ""}
    refused = [
        ({"fingerprint": np.zeros((3, BYTES), dtype=np.uint8)}, {**good, "format": "other"}),
        # The 64-bit file this one replaces: its hashes cannot be compared with 256-bit ones.
        ({"phash": np.zeros(3, dtype=np.int64)}, {**good, "format": "effigies-training-phashes/1"}),
        ({"phash": np.zeros((3, BYTES), dtype=np.uint8)}, good),
        ({"fingerprint": np.zeros((3, 8), dtype=np.uint8)}, good),
        ({"fingerprint": np.zeros((3, BYTES), dtype=np.int16)}, good),
        ({"fingerprint": np.zeros(3 * BYTES, dtype=np.uint8)}, good),
        ({"fingerprint": np.zeros((4, BYTES), dtype=np.uint8)}, good),
    ]
    for tensors, metadata in refused:
        save_file(tensors, str(path), metadata=metadata)
        with pytest.raises(ValueError):
            read_training_fingerprints(tmp_path)
    save_file({"fingerprint": np.zeros((3, BYTES), dtype=np.uint8)}, str(path), metadata=good)
    assert read_training_fingerprints(tmp_path).count == 3
    with pytest.raises(ValueError):
        write_training_fingerprints(tmp_path, [bytes(BYTES), bytes(8)], dataset_sha256="x")
    with pytest.raises(ValueError):
        write_training_fingerprints(tmp_path, np.zeros(5, dtype=np.int64), dataset_sha256="x")
    # A refused write leaves the previous file intact.
    assert read_training_fingerprints(tmp_path).count == 3


@pytest.fixture
def shipped(tmp_path, monkeypatch, dataset):
    """A tiny exported generator in a stand-in pretrained folder, and its dataset."""
    pretrained = tmp_path / "pretrained"
    generator, _ = build_models(DCGANConfig(ngf=8, ndf=8), seed=0)
    export_generator(generator, pretrained / "tiny-theme", recalibrate=False, samples_png=False)
    monkeypatch.setattr("effigies.themes.service.PRETRAINED_DIR", pretrained)
    monkeypatch.setenv("EE_DATA_DIR", str(tmp_path / "data"))
    from effigies.config import get_settings

    get_settings.cache_clear()
    yield pretrained / "tiny-theme"
    get_settings.cache_clear()


def run_eval(*args, **kwargs) -> tuple[int, str]:
    out = io.StringIO()
    code = eval_command(*args, console=Console(file=out, width=400), **kwargs)
    return code, out.getvalue()


def test_sample_fingerprints_are_the_sale_filters_fingerprints_of_the_samples(shipped):
    torch.set_num_threads(1)
    values, images = evaluate.sample_fingerprints(shipped, n=10, seed=3, batch_size=4, keep_images=6)
    assert values.shape == (10, BYTES) and values.dtype == np.uint8 and images.shape == (6, 64, 64, 3)
    assert [bytes(v) for v in values[:6]] == [fingerprint(Image.fromarray(a, mode="RGB")) for a in images]
    again, _ = evaluate.sample_fingerprints(shipped, n=10, seed=3, batch_size=10)
    assert np.array_equal(values, again)


def test_eval_without_dataset_skips_swd_and_writes_metrics(shipped):
    torch.set_num_threads(1)
    code, text = run_eval(["tiny-theme"], samples=64)
    assert code == 0
    assert "effigies dataset build tiny-theme" in text and "originality skipped" in text
    metrics = json.loads((shipped / "metrics.json").read_text())
    assert metrics["format"] == "effigies-metrics/2" and metrics["fingerprint"] == "value256"
    assert metrics["swd"] is None and metrics["originality"] is None
    assert all(metrics[k] is None for k in ("c2st_accuracy", "c2st_loss_bits", "density", "coverage", "quality_images"))
    assert {"c2st_accuracy", "c2st_loss_bits", "density", "coverage", "quality_images"} <= set(metrics["definitions"])
    assert set(metrics["seconds_by_step"]) == {"sampling"}
    # The radius defaults to the sale filter's (EE_UNIQUENESS_RADIUS).
    assert 0.0 <= metrics["diversity"] <= 1.0 and metrics["samples"] == 64 and metrics["radius"] == 20
    assert metrics["generator_sha256"] == json.loads((shipped / "generator.json").read_text())["weights_sha256"]


def test_eval_with_dataset_and_training_fingerprints(shipped, dataset, monkeypatch):
    torch.set_num_threads(1)
    # The wiring is under test here, not the classifier's power (tests/gan/test_quality.py).
    monkeypatch.setattr("effigies.gan.quality.C2ST_STEPS", 8)
    assert run_eval(["tiny-theme"], samples=64, dataset=dataset, hash_only=True)[0] == 0
    training = read_training_fingerprints(shipped)
    assert training.count == 24
    code, text = run_eval(["tiny-theme"], samples=64, radius=R, dataset=dataset, swd_images=24, write=False)
    assert code == 0 and "SWD average" in text and "diversity" in text
    assert "C2ST accuracy" in text and "density" in text and "coverage" in text
    assert not (shipped / "metrics.json").exists()
    real = evaluate.load_real_images(dataset, n=24)
    metrics = evaluate.evaluate_generator(
        shipped, samples=40, radius=R, training_fingerprints=training.values, real_images=real, swd_images=24,
        quality_images=20,
    )
    assert metrics["swd"] > 0 and set(metrics["swd_levels"]) == {"64", "32", "16"} and metrics["swd_images"] == 24
    # C2ST and density/coverage: the first quality_images samples against as many training images.
    _, kept = evaluate.sample_fingerprints(shipped, n=40, keep_images=20)
    test, dc = c2st(real, kept, max_images=20), density_coverage(real, kept, max_images=20)
    assert metrics["quality_images"] == 20 and test.test_images == 10 and test.steps == 8
    assert metrics["c2st_accuracy"] == round(test.accuracy, 4) and metrics["c2st_loss_bits"] == round(test.loss_bits, 4)
    assert (metrics["density"], metrics["coverage"]) == (round(dc.density, 4), round(dc.coverage, 4))
    assert set(metrics["seconds_by_step"]) == {"sampling", "swd", "c2st", "density_coverage"}
    samples, _ = evaluate.sample_fingerprints(shipped, n=40)
    assert metrics["originality"] == round(originality(samples, training.values, radius=R), 5)
    assert metrics["diversity"] == round(diversity(samples, radius=R), 5)
    assert metrics["training_images"] == 24
    # Fewer training images than samples: the reference is all of them.
    assert metrics["diversity_training"] == round(diversity(training.values, radius=R), 5)


def test_rgba_samples_and_training_images_are_compared_on_their_composite_over_white(tmp_path, dataset, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr("effigies.gan.quality.C2ST_STEPS", 8)
    generator, _ = build_models(DCGANConfig(ngf=8, ndf=8, nc=4), seed=0)
    weights = tmp_path / "rgba-theme"
    export_generator(generator, weights, recalibrate=False, samples_png=False)
    values, kept = evaluate.sample_fingerprints(weights, n=8, seed=2, keep_images=8)
    loaded, config = load_generator(weights)
    rgba = sample(loaded, latents(8, config.nz, seed=2))
    assert rgba.shape == (8, 64, 64, 4) and kept.shape == (8, 64, 64, 3)
    assert np.array_equal(kept, composite(rgba))
    assert [bytes(v) for v in values] == [fingerprint(Image.fromarray(a, mode="RGB")) for a in composite(rgba)]
    # Training images keep their alpha until the same composite: transparent canvas -> white.
    paths = sorted(dataset.glob("*.png"))
    real = evaluate.load_real_images(dataset, n=24)
    assert real.shape == (24, 64, 64, 3)
    assert np.array_equal(real, composite(np.stack([load_image(p, 64, channels=4) for p in paths])))
    assert (real[0, 0, 0] == 255).all()  # img_000 is on a transparent canvas
    metrics = evaluate.evaluate_generator(weights, samples=24, radius=R, real_images=real, swd_images=24)
    assert 0.0 <= metrics["c2st_accuracy"] <= 1.0 and 0.0 <= metrics["coverage"] <= 1.0 and metrics["density"] >= 0
    assert metrics["quality_images"] == 24 and metrics["swd"] > 0


def test_originality_is_measured_against_the_training_fingerprints(shipped):
    torch.set_num_threads(1)
    samples, _ = evaluate.sample_fingerprints(shipped, n=12)
    # Training images that are near-copies (R - 1 bits) of every sample: all are copies.
    copies = np.stack([np.frombuffer(flip(bytes(v), R - 1, offset=11), dtype=np.uint8) for v in samples])
    copied = evaluate.evaluate_generator(shipped, samples=12, radius=R, training_fingerprints=copies)
    assert copied["originality"] == 1.0 and copied["training_images"] == 12
    unrelated = np.stack([np.frombuffer(flip(bytes(v), 3 * R, offset=11), dtype=np.uint8) for v in samples])
    assert evaluate.evaluate_generator(shipped, samples=12, radius=R, training_fingerprints=unrelated)["originality"] == 0.0
    # More training images than samples: diversity_training looks at as many as there are samples.
    many = evaluate.evaluate_generator(shipped, samples=2, radius=R, training_fingerprints=np.concatenate([copies, copies]))
    assert many["training_images"] == 24 and 0.0 <= many["diversity_training"] <= 1.0


def test_eval_input_errors(shipped, tmp_path):
    assert run_eval(["tiny-theme"], samples=64, dataset=tmp_path / "missing")[0] == 2
    assert run_eval(["no-such-theme"], samples=64)[0] == 2
    code, text = run_eval(["tiny-theme"], samples=64, hash_only=True)
    assert code == 2 and "effigies dataset build tiny-theme" in text


def test_a_re_evaluation_keeps_the_capacity_of_the_same_weights_and_drops_it_for_new_ones(tmp_path):
    from effigies.training.evaluate import record_capacity, write_metrics

    write_metrics(tmp_path, {"generator_sha256": "aa", "swd": 1.0, "definitions": {"swd": "x"}})
    record_capacity(tmp_path, capacity=1234.6, lower_bound=True, radius=20, measured_at="2026-11-25T00:00:00+00:00")
    write_metrics(tmp_path, {"generator_sha256": "aa", "swd": 2.0, "definitions": {"swd": "x"}})
    kept = json.loads((tmp_path / "metrics.json").read_text())
    assert (kept["swd"], kept["capacity"], kept["capacity_is_lower_bound"], kept["capacity_radius"]) == (2.0, 1235, True, 20)
    assert "capacity" in kept["definitions"]

    write_metrics(tmp_path, {"generator_sha256": "bb", "swd": 3.0, "definitions": {"swd": "x"}})
    fresh = json.loads((tmp_path / "metrics.json").read_text())
    assert "capacity" not in fresh and "capacity" not in fresh["definitions"]
