"""DiffAugment and EMA: what the discriminator sees, and what ships."""

from __future__ import annotations

import json

import pytest
import torch

from effigies.gan import checkpoint as ck
from effigies.gan.augment import diff_augment, parse_policy
from effigies.gan.config import DCGANConfig, TrainOptions
from effigies.gan.data import load_image_folder, normalize
from effigies.gan.ema import GeneratorEMA
from effigies.gan.model import build_models
from effigies.gan.step import train_step
from effigies.gan.train import resolve_augment, train

TINY = DCGANConfig(ngf=8, ndf=8)


def _zeroed_pixels(x: torch.Tensor) -> torch.Tensor:
    """Per image, how many pixels are exactly 0 in every channel (what cutout leaves)."""
    return (x == 0).all(dim=1).flatten(1).sum(dim=1)


def _step_with_spy(tiny_dataset, augment):
    netG, netD = build_models(TINY, seed=0)
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = normalize(load_image_folder(tiny_dataset)[:16])
    noise = torch.randn(16, TINY.nz, 1, 1, generator=torch.Generator().manual_seed(1))
    seen: list[torch.Tensor] = []
    netD.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    fakes: list[torch.Tensor] = []
    netG.register_forward_hook(lambda _m, _a, out: fakes.append(out.detach().clone()))
    train_step(netG=netG, netD=netD, optG=optG, optD=optD, real=real, noise=noise,
               rng=torch.Generator().manual_seed(2), augment=augment)
    return real, fakes, seen


def test_diffaugment_reaches_real_and_fake_in_both_steps(tiny_dataset):
    real, fakes, seen = _step_with_spy(tiny_dataset, parse_policy("cutout"))
    assert len(seen) == 3  # D step: real, fake; G step: fake
    d_real, d_fake, g_fake = seen
    # Real pixels are k/127.5 - 1, never exactly 0, and tanh outputs are never exactly 0:
    # a zeroed square in every image is cutout's mark.
    assert _zeroed_pixels(real).sum() == 0 and _zeroed_pixels(fakes[0]).sum() == 0
    for name, x in (("D step real", d_real), ("D step fake", d_fake), ("G step fake", g_fake)):
        assert (_zeroed_pixels(x) >= 16 * 16).all(), f"{name} batch was not augmented"
    # Each call draws its own squares.
    assert not torch.equal(_zeroed_pixels(d_fake), _zeroed_pixels(g_fake)) or not torch.equal(d_fake == 0, g_fake == 0)


def test_without_policy_d_sees_the_images_unchanged(tiny_dataset):
    real, fakes, seen = _step_with_spy(tiny_dataset, ())
    assert torch.equal(seen[0], real)
    assert torch.equal(seen[1], fakes[0])


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_augmentations_are_differentiable_and_keep_shape(policy):
    x = torch.rand(4, 3, 64, 64, requires_grad=True)
    y = diff_augment(x * 2 - 1, parse_policy(policy), torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_shifts_content():
    x = torch.zeros(1, 3, 64, 64)
    x[:, :, 28:36, 28:36] = 1.0
    shifted = [diff_augment(x, ("translation",), torch.Generator().manual_seed(s)) for s in range(8)]
    centres = {tuple(torch.nonzero(s[0, 0] == 1.0).float().mean(0).round().tolist()) for s in shifted}
    assert len(centres) > 1  # the square moved
    assert all(int((s == 1.0).sum()) == 3 * 64 for s in shifted)  # moved, not lost (shift <= 8 px)


def test_rgba_augmentation_keeps_alpha_and_uncovers_transparency():
    # A grey opaque square on a transparent (black, alpha 0) background, as load_image stores it.
    x = torch.full((8, 4, 64, 64), -1.0)
    x[:, :3, 16:48, 16:48] = 0.2
    x[:, 3, 16:48, 16:48] = 1.0
    coloured = diff_augment(x, ("color",), torch.Generator().manual_seed(0))
    assert torch.equal(coloured[:, 3], x[:, 3])  # brightness/saturation/contrast never touch alpha
    assert not torch.equal(coloured[:, :3], x[:, :3])
    for policy in (("translation",), ("cutout",)):
        y = diff_augment(x, policy, torch.Generator().manual_seed(1))
        alpha = y[:, 3]
        # what was uncovered or cut out is transparent black, never half-transparent grey
        assert set(alpha.unique().tolist()) <= {-1.0, 1.0}
        assert torch.all(y[:, :3][(alpha == -1.0).unsqueeze(1).expand(-1, 3, -1, -1)] == -1.0)
        assert int((alpha == 1.0).sum()) < int((x[:, 3] == 1.0).sum()) or policy == ("translation",)


def test_policy_parsing_and_auto():
    assert parse_policy("color, cutout") == ("color", "cutout")
    assert parse_policy("none") == () and parse_policy("") == ()
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        parse_policy("colour")
    with pytest.raises(ValueError):
        TrainOptions(data_dir="d", out_dir="o", diffaugment="rotate")
    assert resolve_augment("auto", 500) == ("color", "translation", "cutout")
    assert resolve_augment("auto", 10_000) == ()


def test_ema_ramps_up_and_tracks_the_live_weights():
    netG, _ = build_models(TINY, seed=0)
    ema = GeneratorEMA(netG, half_life_images=10_000, rampup=0.05)
    # at 1,000 images the half-life is capped at 50 images: the average follows closely
    assert ema.beta(1_000, 16) == pytest.approx(0.5 ** (16 / 50))
    assert ema.beta(10**7, 128) == pytest.approx(0.5 ** (128 / 10_000))
    with torch.no_grad():
        for p in netG.parameters():
            p.add_(1.0)
    ema.update(netG, images_seen=1_000, batch_size=16)
    w_live = next(netG.parameters())
    w_ema = next(ema.model.parameters())
    assert not torch.equal(w_live, w_ema)
    frac = float((w_ema - (w_live - 1.0)).mean().detach())
    assert frac == pytest.approx(1 - 0.5 ** (16 / 50), rel=1e-4)


def test_export_ships_the_ema_generator(tiny_dataset, tmp_path):
    opts = TrainOptions(
        data_dir=str(tiny_dataset), out_dir=str(tmp_path / "run"), model=TINY, batch_size=16, total_images=96,
        sample_every=0, sample_every_s=None, checkpoint_every=0, checkpoint_every_s=None, seed=5,
        precision="fp32", device="cpu", ema_images=200,
    )
    summary = train(opts)
    assert summary["ema_images"] == 200
    state = ck.load_training_checkpoint(ck.latest_checkpoint(tmp_path / "run"))
    key = "main.0.weight"
    assert not torch.equal(state["G"][key], state["G_ema"][key])
    out = ck.export_generator(tmp_path / "run", tmp_path / "export", samples_png=False, dtype=torch.float32)
    g, _ = ck.load_generator(out)
    w = g.state_dict()[key]
    # (float32 storage so rounding cannot hide which weights shipped)
    assert torch.equal(w, state["G_ema"][key])
    assert json.loads((out / "generator.json").read_text())["training"]["ema_images"] == 200
