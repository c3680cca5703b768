from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from effigies.gan import checkpoint as ck
from effigies.gan.checkpoint import export_generator, latest_checkpoint, load_generator
from effigies.gan.config import DCGANConfig, TrainOptions
from effigies.gan.sample import latents, make_grid, sample
from effigies.gan.train import train

TINY = DCGANConfig(ngf=8, ndf=8)


@pytest.fixture(autouse=True)
def _no_pickle(monkeypatch):
    """Any torch.load / pickle use during these tests is a failure."""

    def boom(*a, **k):
        raise AssertionError("pickle/torch.load must never be used")

    monkeypatch.setattr(torch, "load", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)


def _opts(data, out, **kw):
    base = dict(
        data_dir=str(data),
        out_dir=str(out),
        model=TINY,
        batch_size=16,
        total_images=16 * 8,
        sample_every=4,
        sample_every_s=None,
        checkpoint_every=5,
        checkpoint_every_s=None,
        log_every=1,
        seed=123,
        precision="fp32",
        device="cpu",
    )
    base.update(kw)
    return TrainOptions(**base)


def _g_state(run_dir):
    return ck.load_training_checkpoint(latest_checkpoint(run_dir))


def test_abort_resume_matches_uninterrupted_run(tiny_dataset, tmp_path):
    # every stabiliser on (instance noise, label smoothing, DiffAugment, EMA), so their
    # random draws and state are covered by the resume check too
    kw = dict(
        instance_noise=0.1, instance_noise_images=16 * 6, real_label=0.9,
        diffaugment="color,translation,cutout", ema_images=64,
    )
    full = train(_opts(tiny_dataset, tmp_path / "full", **kw))
    assert full["finished"] and not full["aborted"] and full["step"] == 8
    assert full["images_seen"] == 128

    calls = {"n": 0}

    def abort_after_3():
        calls["n"] += 1
        return calls["n"] > 3

    events = []
    part = train(_opts(tiny_dataset, tmp_path / "part", **kw), abort_fn=abort_after_3, progress_fn=events.append)
    assert part["aborted"] and not part["finished"] and part["step"] == 3
    assert latest_checkpoint(tmp_path / "part").name == "step_000003.safetensors"
    assert {"start", "step", "checkpoint", "done"} <= {e["event"] for e in events}
    step_ev = [e for e in events if e["event"] == "step"][-1]
    for key in ("step", "images", "total", "loss_d", "loss_g", "images_per_s"):
        assert key in step_ev
    assert step_ev["total"] == 128

    resumed = train(_opts(tiny_dataset, tmp_path / "part", **kw))
    assert resumed["resumed"] and resumed["finished"] and resumed["step"] == full["step"] == 8

    a, b = _g_state(tmp_path / "full"), _g_state(tmp_path / "part")
    assert a["meta"]["step"] == b["meta"]["step"] == 8
    assert a["G_ema"], "the checkpoint holds the EMA generator"
    for net in ("G", "D", "G_ema", "optG", "optD"):
        if net.startswith("opt"):
            for pid, st in a[net]["state"].items():
                assert torch.equal(st["exp_avg"], b[net]["state"][pid]["exp_avg"]), f"{net} moments differ"
            continue
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs after resume"

    # stats: one line per step, no duplicates after the resume
    steps = [json.loads(l)["step"] for l in (tmp_path / "part" / "stats.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))
    line = json.loads((tmp_path / "part" / "stats.jsonl").read_text().splitlines()[-1])
    assert {"step", "images", "loss_d", "loss_g", "d_x", "d_g_z", "images_per_s", "time"} <= set(line)


def test_run_folder_layout(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train(_opts(tiny_dataset, run, total_images=16 * 5))
    assert json.loads((run / "options.json").read_text())["batch_size"] == 16
    noise = load_file(str(run / "fixed_noise.safetensors"))["noise"]
    assert noise.shape == (64, 100, 1, 1)
    grids = sorted(p.name for p in (run / "samples").glob("*.png"))
    assert grids == ["step_000000.png", "step_000004.png", "step_000005.png"]
    ckpt = latest_checkpoint(run)
    meta = json.loads(ckpt.with_suffix(".json").read_text())
    assert meta["step"] == 5 and meta["images_seen"] == 80 and meta["config"] == TINY.to_dict()
    tensors = load_file(str(ckpt))
    assert tensors["rng.noise"].dtype == torch.uint8
    assert any(k.startswith("optG.") and k.endswith("exp_avg") for k in tensors)
    assert any(k.startswith("optD.") for k in tensors)
    assert not list(run.rglob("*.tmp"))
    # A second call with the same options is a no-op resume that ends at the same step.
    again = train(_opts(tiny_dataset, run, total_images=16 * 5))
    assert again["resumed"] and again["step"] == 5


def test_export_load_round_trip(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train(_opts(tiny_dataset, run, total_images=16 * 3))
    z = latents(8, 100, seed=42)

    out32 = export_generator(run, tmp_path / "exp32", dtype=torch.float32, samples_png=False)
    g1, cfg1 = load_generator(out32)
    g2, _ = load_generator(out32 / "generator.safetensors")
    assert cfg1 == TINY and not g1.training
    s1, s2 = sample(g1, z), sample(g2, z)
    assert s1.dtype == np.uint8 and s1.shape == (8, 64, 64, 3)
    assert np.array_equal(s1, s2)
    # one latent alone == the same latent inside a batch of 8 (no batch statistics at sampling time)
    single = sample(g1, z[3:4])[0]
    assert np.abs(single.astype(int) - s1[3].astype(int)).max() <= 1

    # float16 storage (default) loads as float32 and gives (nearly) the same images
    out16 = export_generator(run, tmp_path / "exp16", dataset_name="tiny")
    g16, _ = load_generator(out16)
    assert all(p.dtype == torch.float32 for p in g16.parameters())
    assert np.array_equal(sample(g16, z), sample(load_generator(out16)[0], z))
    assert np.abs(sample(g16, z).astype(int) - s1.astype(int)).mean() < 2
    meta = json.loads((out16 / "generator.json").read_text())
    assert meta["config"] == TINY.to_dict() and meta["images_seen"] == 48 and meta["dataset_name"] == "tiny"
    assert (out16 / "samples.png").is_file()
    assert load_file(str(out16 / "generator.safetensors"))["main.0.weight"].dtype == torch.float16


def test_export_from_generator_object_is_not_mutated(tmp_path):
    from effigies.gan.model import build_models

    g, _ = build_models(TINY, seed=0)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    out = export_generator(g, tmp_path / "exp", dtype=torch.float32, samples_png=False)
    for k, v in g.state_dict().items():
        assert torch.equal(v, before[k])
    loaded, _ = load_generator(out)
    assert torch.equal(loaded.main[0].weight, g.main[0].weight)


def test_load_refuses_pickle_files(tmp_path):
    pt = tmp_path / "generator.pt"
    pt.write_bytes(b"\x80\x04K\x01.")  # a pickle stream; must never be opened as such
    with pytest.raises(ValueError, match="safetensors"):
        load_generator(pt)
    only_pt = tmp_path / "only_pt"
    only_pt.mkdir()
    (only_pt / "generator.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(FileNotFoundError):
        load_generator(only_pt)
    with pytest.raises(ValueError):
        ck.load_training_checkpoint(tmp_path / "generator.pt")


def test_latents_and_grid():
    z1, z2 = latents(4, 100, seed=7), latents(4, 100, seed=7)
    assert z1.shape == (4, 100, 1, 1) and torch.equal(z1, z2)
    assert not torch.equal(z1, latents(4, 100, seed=8))
    img = make_grid(np.zeros((10, 64, 64, 3), dtype=np.uint8), nrow=8, padding=2)
    assert img.size == (8 * 66 + 2, 2 * 66 + 2)


def test_tiny_configuration_learns_in_a_few_steps(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    summary = train(_opts(tiny_dataset, run, total_images=16 * 24, checkpoint_every=0, sample_every=0))
    assert summary["finished"] and summary["step"] == 24
    stats = [json.loads(l) for l in (run / "stats.jsonl").read_text().splitlines()]
    first, last = stats[0], stats[-1]
    # D starts at chance (BCE of 0.5 on both halves = 2 ln 2) and learns to tell the blobs from G's noise
    assert abs(first["loss_d"] - 2 * np.log(2)) < 0.25
    assert np.mean([s["loss_d"] for s in stats[-5:]]) < first["loss_d"] - 0.2
    assert last["d_x"] > last["d_g_z"]
    assert len({round(s["loss_g"], 3) for s in stats}) > 10  # the losses move every step
    # and G's weights moved away from their initialisation
    start = ck.load_training_checkpoint(latest_checkpoint(run))["G"]
    from effigies.gan.model import build_models

    g0, _ = build_models(TINY, seed=123)
    assert not torch.allclose(start["main.0.weight"], g0.state_dict()["main.0.weight"])


def test_warm_start_begins_from_an_exported_generator(tiny_dataset, tmp_path):
    first = tmp_path / "first"
    train(_opts(tiny_dataset, first, total_images=16 * 3))
    exported = export_generator(first, tmp_path / "exp", dtype=torch.float32, samples_png=False)
    shipped, _ = load_generator(exported)

    # 0 steps after the warm start: G's first grid is the exported generator's, not a random init
    second = tmp_path / "second"
    train(_opts(tiny_dataset, second, total_images=16 * 2, init_generator=str(exported), ema_images=100))
    state = _g_state(second)
    w0 = shipped.main[0].weight
    # two Adam steps of lr 2e-4 move a weight by about 4e-4; DCGAN's init draws N(0, 0.02)
    assert (state["G"]["main.0.weight"] - w0).abs().max() < 2e-3
    assert (state["G_ema"]["main.0.weight"] - w0).abs().max() < 2e-3
    scratch = tmp_path / "scratch"
    train(_opts(tiny_dataset, scratch, total_images=16 * 2, seed=999))
    assert (_g_state(scratch)["G"]["main.0.weight"] - w0).abs().mean() > 1e-2

    # another network than the run's is refused before any training
    with pytest.raises(ValueError, match="another network"):
        train(_opts(tiny_dataset, tmp_path / "bad", model=DCGANConfig(ngf=16, ndf=8), init_generator=str(exported)))
    with pytest.raises(ValueError, match="no exported generator"):
        train(_opts(tiny_dataset, tmp_path / "none", init_generator=str(tmp_path / "missing")))
