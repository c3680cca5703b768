from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from effigies.gan.data import BatchSampler, load_image_folder, normalize, to_uint8


def test_load_folder_rgba_on_white_and_resize(tmp_path):
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[16:48, 16:48] = [255, 0, 0, 255]  # opaque red square on a transparent canvas
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.new("RGB", (128, 128), (0, 0, 255)).save(tmp_path / "b.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("ignored")
    data = load_image_folder(tmp_path)
    assert data.dtype == torch.uint8 and data.shape == (2, 3, 64, 64)
    a = data[0]
    assert a[:, 0, 0].tolist() == [255, 255, 255]  # transparent -> white
    assert a[:, 32, 32].tolist() == [255, 0, 0]
    b = data[1].float()
    assert b[2].mean() > 240 and b[0].mean() < 15  # resized blue JPEG


def test_normalize_range():
    x = torch.tensor([0, 255, 128], dtype=torch.uint8)
    y = normalize(x)
    assert y.dtype == torch.float32
    assert y[0] == -1 and y[1] == 1 and abs(y[2]) < 0.01
    assert torch.equal(to_uint8(normalize(torch.arange(256, dtype=torch.uint8))), torch.arange(256, dtype=torch.uint8))


def test_batch_sampler_state_round_trip():
    s = BatchSampler(10, 4, seed=1)
    seen = [s.next() for _ in range(3)]  # wraps into a second epoch (drop_last)
    assert all(len(i) == 4 for i in seen) and s.epoch == 1
    t, sc = s.state_tensors(), s.state_scalars()
    s2 = BatchSampler(10, 4, seed=999)
    s2.load_state(t, sc)
    for _ in range(5):
        assert torch.equal(s.next(), s2.next())
