from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console

from effigies.gan.checkpoint import export_generator
from effigies.gan.config import DCGANConfig
from effigies.gan.data import load_image
from effigies.gan.model import build_models
from effigies.training import evaluate
from effigies.training.eval_cli import eval_command
from effigies.training.evaluate import as_unsigned, diversity, near_any, originality, popcount64
from effigies.uniqueness.service import hamming, phash
from effigies.uniqueness.training_set import TRAINING_PHASHES_FILE, read_training_phashes, write_training_phashes

RNG = np.random.default_rng(0)


def far_apart(n: int) -> list[int]:
    """``n`` random signed 64-bit hashes, pairwise more than 16 bits apart."""
    out: list[int] = []
    while len(out) < n:
        h = int(RNG.integers(-(1 << 63), (1 << 63) - 1, dtype=np.int64))
        if all(hamming(h, o) > 16 for o in out):
            out.append(h)
    return out


def flip(h: int, bits: int, offset: int = 0) -> int:
    """``h`` with ``bits`` of its bits flipped (the top bit among them, to exercise the sign)."""
    u = h & ((1 << 64) - 1)
    for i in range(bits):
        u ^= 1 << (63 - ((offset + i) % 64))
    return u - (1 << 64) if u >= (1 << 63) else u


def test_as_unsigned_and_popcount_match_python():
    values = [0, -1, 1, -(1 << 63), (1 << 63) - 1, 0x0F0F, -0x0F0F]
    unsigned = as_unsigned(values)
    assert unsigned.dtype == np.uint64
    assert [int(u) for u in unsigned] == [v & ((1 << 64) - 1) for v in values]
    assert [int(c) for c in popcount64(unsigned)] == [bin(v & ((1 << 64) - 1)).count("1") for v in values]
    # Python ints in the unsigned encoding wrap to the same bits.
    assert list(as_unsigned([v & ((1 << 64) - 1) for v in values])) == list(unsigned)


def test_popcount_byte_table_fallback(monkeypatch):
    x = as_unsigned(RNG.integers(-(1 << 63), (1 << 63) - 1, size=1000, dtype=np.int64))
    expected = popcount64(x)
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert np.array_equal(popcount64(x), expected)


def test_originality_counts_samples_within_radius_of_any_training_hash():
    training = far_apart(10)
    # Copies of training image 0 at distance 0..6, then 3 unrelated samples.
    samples = [flip(training[0], d, offset=d) for d in range(7)] + far_apart(3)
    near = near_any(samples, training, radius=4)
    assert near.tolist()[:7] == [True] * 5 + [False] * 2
    assert originality(samples, training, radius=4) == pytest.approx(5 / 10)
    assert originality(samples, training, radius=6) == pytest.approx(7 / 10)
    assert originality(samples, training, radius=0) == pytest.approx(1 / 10)
    assert originality([], training, radius=4) == 0.0


def test_diversity_counts_samples_with_no_near_sibling():
    b = far_apart(4)
    samples = [b[0], flip(b[0], 3), b[1], b[2], flip(b[2], 6), b[3], b[3]]
    # R=4: b0 and its 3-bit copy, and the two exact b3 copies, have a sibling -> 3 of 7 are alone.
    assert diversity(samples, radius=4) == pytest.approx(3 / 7)
    # R=6: the 6-bit copy of b2 joins them -> only b1 is alone.
    assert diversity(samples, radius=6) == pytest.approx(1 / 7)
    # R=2: only the exact duplicates are too close.
    assert diversity(samples, radius=2) == pytest.approx(5 / 7)
    assert diversity(b, radius=4) == 1.0


def test_chunked_results_equal_brute_force():
    base = [int(v) for v in RNG.integers(-(1 << 63), (1 << 63) - 1, size=300, dtype=np.int64)]
    queries = base[:150] + [flip(h, k) for k, h in zip(range(8), base[150:300:19])]
    brute = [any(hamming(q, r) <= 4 for r in base[150:]) for q in queries]
    assert near_any(queries, base[150:], radius=4, chunk_elements=500).tolist() == brute
    brute_self = [any(hamming(q, r) <= 5 for j, r in enumerate(base) if j != i) for i, q in enumerate(base)]
    assert near_any(base, base, radius=5, exclude_self=True, chunk_elements=700).tolist() == brute_self


def test_ten_thousand_samples_take_seconds_not_minutes():
    samples = RNG.integers(-(1 << 63), (1 << 63) - 1, size=10_000, dtype=np.int64)
    training = RNG.integers(-(1 << 63), (1 << 63) - 1, size=12_000, dtype=np.int64)
    start = time.perf_counter()
    assert diversity(samples, radius=4) == 1.0
    assert originality(samples, training, radius=4) == 0.0
    assert time.perf_counter() - start < 10


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


def test_training_phash_file_round_trip(dataset, tmp_path):
    path = evaluate.hash_dataset(dataset, tmp_path)
    assert path.name == TRAINING_PHASHES_FILE
    info = read_training_phashes(tmp_path)
    expected = [phash(Image.fromarray(load_image(p), mode="RGB")) for p in sorted(dataset.glob("*.png"))]
    assert info.hashes.dtype == np.int64 and info.as_ints() == expected and info.count == 24
    assert info.dataset == "dataset" and len(info.dataset_sha256) == 64
    # Same folder, same digest; any changed byte, another one.
    evaluate.hash_dataset(dataset, tmp_path / "again")
    assert read_training_phashes(tmp_path / "again").dataset_sha256 == info.dataset_sha256
    (dataset / "img_000.png").write_bytes((dataset / "img_001.png").read_bytes())
    evaluate.hash_dataset(dataset, tmp_path / "changed")
    assert read_training_phashes(tmp_path / "changed").dataset_sha256 != info.dataset_sha256
    # The registry's signed encoding survives: a hash with the top bit set stays negative.
    write_training_phashes(tmp_path, [-(1 << 63), -1, 5], dataset_sha256="x")
    assert read_training_phashes(tmp_path).as_ints() == [-(1 << 63), -1, 5]


def test_training_phash_file_refuses_other_content(tmp_path):
    from safetensors.numpy import save_file

    save_file({"phash": np.zeros(3, dtype=np.int64)}, str(tmp_path / TRAINING_PHASHES_FILE), metadata={"format": "other"})
    with pytest.raises(ValueError):
        read_training_phashes(tmp_path)


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


def test_eval_without_dataset_skips_swd_and_writes_metrics(shipped):
    torch.set_num_threads(1)
    code, text = run_eval(["tiny-theme"], samples=64, radius=4)
    assert code == 0
    assert "effigies dataset build tiny-theme" in text and "originality skipped" in text
    metrics = json.loads((shipped / "metrics.json").read_text())
    assert metrics["swd"] is None and metrics["originality"] is None
    assert 0.0 <= metrics["diversity"] <= 1.0 and metrics["samples"] == 64 and metrics["radius"] == 4
    assert metrics["generator_sha256"] == json.loads((shipped / "generator.json").read_text())["weights_sha256"]


def test_eval_with_dataset_and_training_hashes(shipped, dataset):
    assert run_eval(["tiny-theme"], samples=64, dataset=dataset, hash_only=True)[0] == 0
    assert (shipped / TRAINING_PHASHES_FILE).is_file()
    code, text = run_eval(["tiny-theme"], samples=64, radius=4, dataset=dataset, swd_images=24, write=False)
    assert code == 0 and "SWD average" in text and "diversity" in text
    assert not (shipped / "metrics.json").exists()
    metrics = evaluate.evaluate_generator(
        shipped, samples=40, radius=4, training_hashes=read_training_phashes(shipped).hashes,
        real_images=evaluate.load_real_images(dataset, n=24), swd_images=24,
    )
    assert metrics["swd"] > 0 and set(metrics["swd_levels"]) == {"64", "32", "16"} and metrics["swd_images"] == 24
    assert 0.0 <= metrics["originality"] <= 1.0 and metrics["training_images"] == 24
    # Fewer training images than samples: the reference is all of them.
    assert metrics["diversity_training"] == round(diversity(read_training_phashes(shipped).hashes, radius=4), 5)
    fewer = evaluate.evaluate_generator(shipped, samples=10, radius=4, training_hashes=read_training_phashes(shipped).hashes)
    assert fewer["swd"] is None and 0.0 <= fewer["diversity_training"] <= 1.0


def test_eval_input_errors(shipped, tmp_path):
    assert run_eval(["tiny-theme"], samples=64, dataset=tmp_path / "missing")[0] == 2
    assert run_eval(["no-such-theme"], samples=64)[0] == 2
    code, text = run_eval(["tiny-theme"], samples=64, hash_only=True)
    assert code == 2 and "effigies dataset build tiny-theme" in text
