"""Every size from 16 to 1024 px in PNG, WebP and JPEG, on the real stack; transparency per format;
the unsold candidate's clean image still has no address."""
from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

from tests.avatars.helpers import candidates, stored_image

SIGNATURES = {"png": (b"\x89PNG\r\n\x1a\n", "image/png"), "webp": (b"RIFF", "image/webp"), "jpg": (b"\xff\xd8\xff", "image/jpeg")}


def dimensions(data: bytes, ext: str) -> tuple[int, int]:
    """Width and height read straight from the file's header, after checking its signature."""
    magic, _ = SIGNATURES[ext]
    assert data.startswith(magic), (ext, data[:16])
    if ext == "png":
        assert data[12:16] == b"IHDR"
        return struct.unpack(">II", data[16:24])
    if ext == "webp":
        assert data[8:12] == b"WEBP"
        chunk = data[12:16]
        if chunk == b"VP8X":  # extended (alpha): 24-bit width-1, height-1
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if chunk == b"VP8L":  # lossless: 14-bit width-1, height-1 after the 0x2f signature byte
            assert data[20] == 0x2F
            bits = int.from_bytes(data[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        assert chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a", chunk  # lossy key frame
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    at = 2  # JPEG: walk the segments to the start of frame
    while True:
        assert data[at] == 0xFF
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length


def test_every_size_from_16_to_1024_comes_at_exactly_that_size_in_the_format_asked(client, smooth_id, pixel_id, rgba_id):
    """1,009 requests, each size once: the format and the avatar (drawing, pixel art, transparent)
    rotate, so each format meets each kind of avatar at small and large sizes alike."""
    avatars, formats = (smooth_id, pixel_id, rgba_id), tuple(SIGNATURES)
    seen = set()
    for size in range(16, 1025):
        ext, public_id = formats[size % 3], avatars[(size // 3) % 3]
        response = client.get(f"/a/{public_id}.{ext}", params={"s": size})
        assert response.status_code == 200, (size, ext, response.text)
        assert response.headers["content-type"] == SIGNATURES[ext][1]
        assert dimensions(response.content, ext) == (size, size), (size, ext)
        seen.add((ext, public_id))
    assert len(seen) == 9
    # The header parser agrees with Pillow where it matters most.
    for ext in formats:
        data = client.get(f"/a/{smooth_id}.{ext}", params={"s": 1024}).content
        assert Image.open(io.BytesIO(data)).size == dimensions(data, ext) == (1024, 1024)


def test_a_transparent_avatar_keeps_alpha_in_png_and_webp_and_its_jpeg_is_flattened_on_white(client, rgba_id):
    from effigies.generation.master import make_master
    from effigies.avatars.variants import scale
    from effigies.uniqueness.fingerprint import on_background

    source = stored_image(rgba_id)
    assert source.mode == "RGBA" and source.size == (64, 64)
    master = make_master(source, pixel_art=False, weights_dir=None)
    for size in (40, 128, 256, 700):
        png = Image.open(io.BytesIO(client.get(f"/a/{rgba_id}.png", params={"s": size}).content))
        assert (png.format, png.mode, png.size) == ("PNG", "RGBA", (size, size))
        pixels = np.asarray(png)
        assert (pixels[..., 3] < 255).any()
        # Smoothed like any drawing from the master, alpha premultiplied by Pillow's resampling.
        assert np.array_equal(pixels, np.asarray(scale(master, size, pixel_art=False)))

        webp = Image.open(io.BytesIO(client.get(f"/a/{rgba_id}.webp", params={"s": size}).content))
        assert (webp.format, webp.mode, webp.size) == ("WEBP", "RGBA", (size, size))
        alpha = np.asarray(webp)[..., 3].astype(float)
        assert (alpha < 255).any() and np.abs(alpha - pixels[..., 3]).mean() < 4  # lossy, close

        jpeg = Image.open(io.BytesIO(client.get(f"/a/{rgba_id}.jpg", params={"s": size}).content))
        assert (jpeg.format, jpeg.mode, jpeg.size) == ("JPEG", "RGB", (size, size))
        on_white = np.asarray(on_background(png), dtype=float)
        assert np.abs(np.asarray(jpeg, dtype=float) - on_white).mean() < 4
    # Flattened on white, not black: where the avatar is transparent, white shows through.
    jpeg = np.asarray(Image.open(io.BytesIO(client.get(f"/a/{rgba_id}.jpg", params={"s": 256}).content)), dtype=float)
    on_black = np.asarray(on_background(master, (0, 0, 0)), dtype=float)
    on_white = np.asarray(on_background(master), dtype=float)
    assert np.abs(jpeg - on_white).mean() < np.abs(jpeg - on_black).mean() / 4


def test_an_opaque_avatar_stays_opaque_in_every_format(client, smooth_id, pixel_id):
    for public_id in (smooth_id, pixel_id):
        for ext in ("png", "webp", "jpg"):
            image = Image.open(io.BytesIO(client.get(f"/a/{public_id}.{ext}", params={"s": 184}).content))
            assert image.mode == "RGB", (public_id, ext)


def test_pixel_art_at_other_sizes_keeps_its_blocks_hard_edged(client, pixel_id):
    """184 px: nearest at 192, then area down; at most one blended pixel between design pixels."""
    source = np.asarray(stored_image(pixel_id), dtype=float)
    served = np.asarray(Image.open(io.BytesIO(client.get(f"/a/{pixel_id}.png", params={"s": 184}).content)), dtype=float)
    # Inside each design pixel's block (2.875 px) the middle output pixel is exactly its colour.
    centres = ((np.arange(64) + 0.5) * 184 / 64).astype(int)
    exact = np.abs(served[centres][:, centres] - source).max(axis=2) <= 1
    assert exact.mean() > 0.9
    # 32 px: each output pixel is the mean of the 2x2 design pixels it covers.
    small = np.asarray(Image.open(io.BytesIO(client.get(f"/a/{pixel_id}.png", params={"s": 32}).content)), dtype=float)
    means = source.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
    assert np.abs(small - means).max() <= 1


def test_an_unsold_candidates_clean_image_has_no_address_in_any_format(make_user, client):
    from sqlalchemy import select

    from effigies.db import session_scope
    from effigies.generation import service
    from effigies.generation.models import Candidate

    user, _ = make_user()
    candidate = candidates(user, 1)[0]
    for ext in ("png", "webp", "jpg"):
        for name in (candidate["id"], candidate["id"].replace("-", "")[:16]):
            response = client.get(f"/a/{name}.{ext}", params={"s": 256})
            assert response.status_code == 404 and response.json()["error"]["code"] == "avatar_not_found"
    for name in ("preview.png", "preview.jpg", "image.png", "clean.png"):
        assert user.get(f"/api/candidates/{candidate['id']}/{name}").status_code == 404
    # What its owner can see is the marked preview, not the clean master.
    with session_scope() as session:
        row = session.scalar(select(Candidate).where(Candidate.id == candidate["id"]))
        clean = Image.open(service.candidate_image_path(row)).convert("RGB")
    preview = Image.open(io.BytesIO(user.get(candidate["preview_url"]).content)).convert("RGB")
    enlarged = np.asarray(clean.resize((256, 256), Image.Resampling.LANCZOS), dtype=float)
    assert np.abs(np.asarray(preview, dtype=float) - enlarged).max() > 30
