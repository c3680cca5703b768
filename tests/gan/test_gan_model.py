from __future__ import annotations

import pytest
import torch
from torch import nn

from effigies.gan.config import DCGANConfig, TrainOptions
from effigies.gan.model import Discriminator, Generator, build_models, weights_init


def _layers(net):
    return list(net.main)


def test_no_pooling_no_linear_anywhere():
    for net in (Generator(), Discriminator()):
        for m in net.modules():
            assert not isinstance(m, nn.Linear)
            assert "Pool" not in type(m).__name__
            assert not isinstance(m, (nn.Dropout, nn.Upsample))


def test_generator_structure_and_shapes():
    cfg = DCGANConfig()
    g = Generator(cfg)
    layers = _layers(g)
    convs = [m for m in layers if isinstance(m, nn.ConvTranspose2d)]
    assert [c.in_channels for c in convs] == [100, 512, 256, 128, 64]
    assert [c.out_channels for c in convs] == [512, 256, 128, 64, 3]
    assert all(c.kernel_size == (4, 4) and c.bias is None for c in convs)
    assert [c.stride for c in convs] == [(1, 1)] + [(2, 2)] * 4
    # ConvT -> BN -> ReLU for all but the output, which is ConvT -> Tanh
    kinds = [type(m) for m in layers]
    assert kinds == [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU] * 4 + [nn.ConvTranspose2d, nn.Tanh]

    shapes = []
    hooks = [c.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:]))) for c in convs]
    out = g(torch.randn(2, 100, 1, 1))
    for h in hooks:
        h.remove()
    assert shapes == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (3, 64, 64)]
    assert out.shape == (2, 3, 64, 64)
    assert out.min() >= -1 and out.max() <= 1
    assert g(torch.randn(2, 100)).shape == (2, 3, 64, 64)  # flat z accepted too


def test_discriminator_structure_and_shapes():
    d = Discriminator(DCGANConfig())
    layers = _layers(d)
    kinds = [type(m) for m in layers]
    assert kinds == [nn.Conv2d, nn.LeakyReLU] + [nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU] * 3 + [nn.Conv2d]
    assert all(m.negative_slope == pytest.approx(0.2) for m in layers if isinstance(m, nn.LeakyReLU))
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert convs[-1].kernel_size == (4, 4) and convs[-1].stride == (1, 1) and convs[-1].padding == (0, 0)
    shapes = []
    hooks = [c.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:]))) for c in convs]
    logits = d(torch.randn(3, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert shapes == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1, 1, 1)]
    assert logits.shape == (3,)  # one raw logit per image (BCEWithLogits)


def test_small_config_scales_channels():
    g, d = build_models(DCGANConfig(ngf=8, ndf=4), seed=0)
    assert g(torch.randn(2, 100, 1, 1)).shape == (2, 3, 64, 64)
    assert d(torch.randn(2, 3, 64, 64)).shape == (2,)
    assert [m.out_channels for m in g.main if isinstance(m, nn.ConvTranspose2d)] == [64, 32, 16, 8, 3]


def test_weights_init_statistics():
    torch.manual_seed(0)
    g, d = Generator(), Discriminator()
    g.apply(weights_init)
    d.apply(weights_init)
    conv_w = torch.cat([m.weight.flatten() for net in (g, d) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(conv_w.mean().item()) < 1e-3
    assert conv_w.std().item() == pytest.approx(0.02, rel=0.02)
    bns = [m for net in (g, d) for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    bn_w = torch.cat([m.weight for m in bns])
    assert bn_w.mean().item() == pytest.approx(1.0, abs=3e-3)
    assert bn_w.std().item() == pytest.approx(0.02, rel=0.1)
    assert all(torch.count_nonzero(m.bias) == 0 for m in bns)


def test_build_models_is_deterministic_and_keeps_global_rng():
    state = torch.get_rng_state()
    g1, _ = build_models(DCGANConfig(ngf=8, ndf=8), seed=3)
    g2, _ = build_models(DCGANConfig(ngf=8, ndf=8), seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(g1.state_dict().values(), g2.state_dict().values()):
        assert torch.equal(a, b)


def test_config_round_trips():
    cfg = DCGANConfig(ngf=32, ndf=16)
    assert DCGANConfig.from_dict(cfg.to_dict()) == cfg
    assert DCGANConfig().to_dict() == {
        "nz": 100, "ngf": 64, "ndf": 64, "nc": 3, "image_size": 64,
        "d_norm": "batch", "mbstd": False, "mirror": False, "palette": 0,
    }
    rich = DCGANConfig(nc=4, image_size=16, d_norm="spectral", mbstd=True, mirror=True, palette=24)
    assert DCGANConfig.from_dict(rich.to_dict()) == rich
    opts = TrainOptions(data_dir="a", out_dir="b", model=cfg, total_images=10)
    again = TrainOptions.from_dict(opts.to_dict())
    assert again == opts
    assert (opts.batch_size, opts.lr, opts.beta1, opts.beta2) == (128, 2e-4, 0.5, 0.999)
    with pytest.raises(ValueError):
        DCGANConfig(image_size=128)
