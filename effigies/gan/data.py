"""In-memory image dataset: a folder of PNG/JPEG files -> one uint8 tensor."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(data_dir: str | Path) -> list[Path]:
    """Image files directly inside ``data_dir`` (sorted by name, hidden files skipped)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def load_image(
    path: str | Path, image_size: int = 64, background=(255, 255, 255), *, channels: int = 3
) -> np.ndarray:
    """One image as uint8 HWC of ``image_size`` x ``image_size`` with ``channels`` (3 or 4).

    RGB (``channels=3``): transparency is composited onto ``background`` (white by default).
    RGBA (``channels=4``): alpha is kept and fully transparent pixels get colour 0, so G
    never has to learn the arbitrary colour a file stores under alpha 0.
    Non-square images are centre-cropped, then brought to 64 px with Lanczos; a smaller
    ``image_size`` (a pixel grid, a divisor of 64) is each cell's mean colour, which for art
    on that grid is exactly the cell's colour.
    """
    if channels not in (3, 4):
        raise ValueError("channels must be 3 or 4")
    with Image.open(path) as im:
        im.load()
        has_alpha = im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info)
        if channels == 4:
            im = im.convert("RGBA")
        elif has_alpha:
            im = im.convert("RGBA")
            bg = Image.new("RGB", im.size, tuple(background))
            bg.paste(im, mask=im.getchannel("A"))
            im = bg
        else:
            im = im.convert("RGB")
        w, h = im.size
        if w != h:
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s))
        if im.size != (64, 64):
            im = im.resize((64, 64), Image.Resampling.LANCZOS)
        out = np.array(im, dtype=np.uint8)
    if image_size != 64:
        # Each cell's mean in straight alpha (Pillow's BOX works premultiplied, which shifts the
        # colour of semi-transparent cells); for art on the grid, exactly the cell's colour.
        f = 64 // image_size
        cells = out.reshape(image_size, f, image_size, f, out.shape[-1]).astype(np.float32)
        out = np.rint(cells.mean(axis=(1, 3))).astype(np.uint8)
    if channels == 4:
        out[out[..., 3] == 0, :3] = 0
    return out


def load_image_folder(
    data_dir: str | Path,
    image_size: int = 64,
    *,
    channels: int = 3,
    limit: int | None = None,
    progress_fn: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Load every PNG/JPEG in ``data_dir`` into a uint8 tensor of shape (N, channels, S, S)."""
    paths = list_images(data_dir)
    if limit is not None:
        paths = paths[:limit]
    if not paths:
        raise ValueError(f"no PNG/JPEG images in {data_dir}")
    out = np.empty((len(paths), image_size, image_size, channels), dtype=np.uint8)
    for i, p in enumerate(paths):
        out[i] = load_image(p, image_size, channels=channels)
        if progress_fn is not None and (i + 1) % 500 == 0:
            progress_fn(i + 1, len(paths))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def learn_palette(
    data: torch.Tensor, k: int, *, seed: int = 0, iters: int = 20, max_pixels: int = 200_000, flat_share: float = 0.95
) -> torch.Tensor:
    """The ``k`` colours that best cover the training pixels: uint8 (k, C).

    Flat art (its ``k`` commonest exact colours cover at least ``flat_share`` of the pixels,
    e.g. DiceBear pixel art: 537 colours, the top 128 cover 98.5 %) keeps those exact colours,
    most frequent first, so a sample never shows a colour the artist did not use; otherwise
    k-means (k-means++ seeding, seeded) over a sample of pixels, each centre rounded to the
    nearest colour actually present.
    """
    c = data.shape[1]
    pixels = data.permute(0, 2, 3, 1).reshape(-1, c)
    colours, counts = torch.unique(pixels, dim=0, return_counts=True)
    order = counts.argsort(descending=True)
    if counts[order[:k]].sum() >= flat_share * counts.sum():
        palette = colours[order[:k]]
        if len(palette) < k:  # pad by repeating the commonest colour (K is fixed by the config)
            palette = torch.cat([palette, palette[:1].repeat(k - len(palette), 1)])
        return palette.to(torch.uint8)
    gen = torch.Generator().manual_seed(seed)
    if len(pixels) > max_pixels:
        pixels = pixels[torch.randperm(len(pixels), generator=gen)[:max_pixels]]
    x = pixels.float()
    centres = x[torch.randint(len(x), (1,), generator=gen)]
    for _ in range(1, k):
        d = torch.cdist(x, centres).min(dim=1).values.square()
        centres = torch.cat([centres, x[torch.multinomial(d / d.sum(), 1, generator=gen)]])
    for _ in range(iters):
        assign = torch.cdist(x, centres).argmin(dim=1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                centres[j] = members.mean(dim=0)
    nearest = torch.cdist(centres, colours.float()).argmin(dim=1)
    return colours[nearest].to(torch.uint8)


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (done per batch so the dataset stays uint8)."""
    return batch.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] NCHW -> uint8 [0, 255] NCHW."""
    return ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8)


class BatchSampler:
    """Shuffled batches of indices over N items; each epoch is a fresh permutation.

    Full batches only (drop_last, as BatchNorm statistics of tiny batches are
    noisy). The permutation is drawn from its own ``torch.Generator`` so the
    position (epoch, offset) plus that generator's state fully describe it;
    both are stored in checkpoints so a resumed run sees the same batches.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0) -> None:
        if n < 1:
            raise ValueError("empty dataset")
        self.n = n
        self.batch_size = min(batch_size, n)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.offset = 0
        self._perm = torch.randperm(n, generator=self.generator)

    def next(self) -> torch.Tensor:
        if self.offset + self.batch_size > self.n:
            self.epoch += 1
            self.offset = 0
            self._perm = torch.randperm(self.n, generator=self.generator)
        idx = self._perm[self.offset : self.offset + self.batch_size]
        self.offset += self.batch_size
        return idx

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            yield self.next()

    # --- checkpoint support (plain tensors / ints only) ---
    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"perm": self._perm.clone(), "generator": self.generator.get_state()}

    def state_scalars(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset, "n": self.n, "batch_size": self.batch_size}

    def load_state(self, tensors: dict[str, torch.Tensor], scalars: dict[str, int]) -> None:
        if int(scalars["n"]) != self.n:
            raise ValueError(f"dataset size changed: checkpoint has {scalars['n']} images, folder has {self.n}")
        self._perm = tensors["perm"].clone().to(torch.int64)
        self.generator.set_state(tensors["generator"].clone().to(torch.uint8))
        self.epoch = int(scalars["epoch"])
        self.offset = int(scalars["offset"])
