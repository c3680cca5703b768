"""The public avatar URL, GET/HEAD /a/{public_id}.{png,webp,jpg}?s=N, on the real stack (effigies.avatars.public).

Sizes, formats and transparency are in test_public_sizes.py, the bound on drawing in test_render_limits.py.
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import uuid

import httpx
import numpy as np
from PIL import Image

from tests.avatars.helpers import avatar_files, buy, stored_image
from tests.conftest import ROOT, free_port, signup_link, wait_http

IMMUTABLE = "public, max-age=31536000, immutable"
BAD_SIZES = ("0", "15", "1025", "4096", "abc", "", "-64", "+64", " 64", "64.0", "0x40", "²", "١٢٨", "99999999999")


def _png(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def _master(public_id: str, *, pixel_art: bool, slug: str = "arcane-sigils") -> Image.Image:
    """The master the shop must have made: through the theme's shipped upscaler, unless pixel art."""
    from effigies.generation.master import make_master
    from effigies.themes.service import PRETRAINED_DIR

    return make_master(stored_image(public_id), pixel_art=pixel_art, weights_dir=PRETRAINED_DIR / slug)


def test_headers_make_it_cacheable_forever_and_cookie_free(client, smooth_id):
    response = client.get(f"/a/{smooth_id}.png")  # no ?s: 256 px
    assert _png(response).size == (256, 256)
    headers = response.headers
    assert headers["content-type"] == "image/png"
    assert int(headers["content-length"]) == len(response.content)
    assert headers["cache-control"] == IMMUTABLE
    assert headers["x-content-type-options"] == "nosniff"
    etag = headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10  # strong: no W/
    assert "set-cookie" not in headers and not client.cookies
    assert "content-disposition" not in headers
    again = client.get(f"/a/{smooth_id}.png", params={"s": 256})
    assert again.headers["etag"] == etag and again.content == response.content
    assert client.get(f"/a/{smooth_id}.png", params={"s": 128}).headers["etag"] != etag


def test_if_none_match_is_304_without_a_body(client, smooth_id):
    etag = client.get(f"/a/{smooth_id}.png", params={"s": 64}).headers["etag"]
    for sent in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        response = client.get(f"/a/{smooth_id}.png", params={"s": 64}, headers={"If-None-Match": sent})
        assert response.status_code == 304, sent
        assert response.content == b""
        assert response.headers["etag"] == etag and response.headers["cache-control"] == IMMUTABLE
    stale = client.get(f"/a/{smooth_id}.png", params={"s": 64}, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content


def test_head_has_the_headers_of_get_and_no_body(client, smooth_id):
    get = client.get(f"/a/{smooth_id}.png", params={"s": 128})
    head = client.head(f"/a/{smooth_id}.png", params={"s": 128})
    assert head.status_code == 200 and head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control"):
        assert head.headers[name] == get.headers[name], name
    assert client.head("/a/doesnotexist0000.png").status_code == 404


def test_sizes_outside_16_to_1024_are_a_json_422_naming_the_range_and_nothing_is_drawn(client, smooth_id):
    client.get(f"/a/{smooth_id}.png")  # the master exists: any new file would be a variant drawn for bad input
    before = avatar_files(smooth_id)
    for ext in ("png", "webp", "jpg"):
        for bad in BAD_SIZES:
            response = client.get(f"/a/{smooth_id}.{ext}", params={"s": bad})
            assert response.status_code == 422, (ext, bad)
            assert response.headers["content-type"] == "application/json"
            error = response.json()["error"]
            assert error["code"] == "invalid_size" and "16–1024" in error["message"], error
    assert avatar_files(smooth_id) == before


def test_unknown_or_malformed_ids_are_json_404s(client):
    for path in ("/a/doesnotexist0000.png", "/a/doesnotexist0000.webp", "/a/doesnotexist0000.jpg", "/a/short.png",
                 "/a/..%2F..%2Fetc%2Fpasswd.png", "/a/a.b.c.d.e.f.g.h.png"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "avatar_not_found"
        assert "set-cookie" not in response.headers
    assert not avatar_files("doesnotexist0000")  # nothing drawn, nothing kept for it
    assert client.post("/a/doesnotexist0000.png").status_code == 405


def test_unknown_formats_are_a_json_404_naming_the_formats_and_sizes(client, smooth_id):
    before = avatar_files(smooth_id)
    for ext in ("gif", "jpeg", "PNG", "svg", "webm", ""):
        for path in (f"/a/{smooth_id}.{ext}", f"/a/{smooth_id}"):
            response = client.get(path, params={"s": 128})
            assert response.status_code == 404, path
            error = response.json()["error"]
            assert error["code"] == "unknown_format", path
            assert ".png, .webp, .jpg" in error["message"] and "16–1024" in error["message"], error
    assert avatar_files(smooth_id) == before


def test_download_asks_for_a_named_file_of_the_format(client, smooth_id):
    for ext, media_type in (("png", "image/png"), ("webp", "image/webp"), ("jpg", "image/jpeg")):
        response = client.get(f"/a/{smooth_id}.{ext}", params={"s": 460, "download": "1"})
        assert response.status_code == 200 and response.headers["content-type"] == media_type
        assert Image.open(io.BytesIO(response.content)).size == (460, 460)
        assert response.headers["content-disposition"] == f'attachment; filename="effigies-{smooth_id}-460.{ext}"'


def test_each_variant_has_its_own_etag_and_each_answers_if_none_match(client, smooth_id):
    etags = {}
    for ext in ("png", "webp", "jpg"):
        for size in (64, 65, 256, 1024):
            response = client.get(f"/a/{smooth_id}.{ext}", params={"s": size})
            assert response.status_code == 200
            etags[ext, size] = response.headers["etag"]
            again = client.get(f"/a/{smooth_id}.{ext}", params={"s": size}, headers={"If-None-Match": etags[ext, size]})
            assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etags[ext, size]
    assert len(set(etags.values())) == len(etags)
    # Another variant's tag is no match.
    other = client.get(f"/a/{smooth_id}.webp", params={"s": 64}, headers={"If-None-Match": etags["png", 64]})
    assert other.status_code == 200


def test_pixel_art_is_scaled_nearest_neighbour(client, pixel_id):
    source = np.asarray(stored_image(pixel_id))
    assert source.shape == (64, 64, 3)
    for size in (128, 256, 1024):
        served = _png(client.get(f"/a/{pixel_id}.png", params={"s": size}))
        assert served.mode == "RGB"  # RGB avatars stay RGB
        scaled, k = np.asarray(served), size // 64
        # Every source pixel becomes a k x k block of exactly its colour: no new colour appears.
        for dy in range(0, k, max(1, k - 1)):
            for dx in range(0, k, max(1, k - 1)):
                assert np.array_equal(scaled[dy::k, dx::k], source), (size, dy, dx)


def test_other_themes_are_scaled_smoothly_from_their_256_px_master(client, smooth_id):
    master = _master(smooth_id, pixel_art=False)
    assert master.size == (256, 256) and master.mode == "RGB"
    assert np.array_equal(np.asarray(_png(client.get(f"/a/{smooth_id}.png"))), np.asarray(master))
    for size in (128, 300):
        scaled = _png(client.get(f"/a/{smooth_id}.png", params={"s": size}))
        assert scaled.mode == "RGB"
        assert np.array_equal(np.asarray(scaled), np.asarray(master.resize((size, size), Image.Resampling.LANCZOS)))


def test_variants_are_cached_on_disk_then_in_memory(client, pixel_id):
    from effigies.avatars import delivery

    variant = delivery.variant_path(pixel_id, 96, "png")
    assert not variant.exists()
    first = client.get(f"/a/{pixel_id}.png", params={"s": 96})
    assert first.status_code == 200 and variant.read_bytes() == first.content
    # On disk, the database is not needed any more (a session that cannot query will do).
    assert delivery.scaled_image(session=None, public_id=pixel_id, size=96) == first.content
    # In memory (the test API is one process): served without the disk file, which stays gone.
    variant.unlink()
    second = client.get(f"/a/{pixel_id}.png", params={"s": 96})
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert not variant.exists()


def test_only_the_offered_sizes_are_kept_on_disk_the_others_in_memory(client, pixel_id):
    from effigies.avatars import delivery

    for size in (97, 184, 333):
        assert client.get(f"/a/{pixel_id}.webp", params={"s": size}).status_code == 200
    files = avatar_files(pixel_id)
    assert "184.webp" in files and "97.webp" not in files and "333.webp" not in files
    assert 184 in delivery.DISK_SIZES and 97 not in delivery.DISK_SIZES
    # The master carries the pixel-art flag: drawing any variant needs no database.
    fresh = delivery.render_variant(session=None, public_id=pixel_id, size=333, ext="webp")
    assert fresh == client.get(f"/a/{pixel_id}.webp", params={"s": 333}).content


def test_an_avatar_sold_before_masters_gets_one_on_first_request_and_keeps_its_old_files(client, stack):
    """Avatars sold before issue 15 have their 64 px file and maybe variants drawn then, no master."""
    from effigies.avatars import delivery
    from effigies.config import get_settings

    public_id = buy(stack, "arcane-sigils")
    assert avatar_files(public_id) == set()  # the purchase drew nothing
    source = stored_image(public_id)
    stored = get_settings().images_dir
    original = hashlib.sha256((stored / _image_path(public_id)).read_bytes()).hexdigest()
    # A 128 px variant as the old code drew it (straight from 64 px, optimised PNG) is served as it is.
    old = io.BytesIO()
    source.resize((128, 128), Image.Resampling.LANCZOS).save(old, format="PNG", optimize=True)
    delivery.variant_path(public_id, 128, "png").parent.mkdir(parents=True)
    delivery.variant_path(public_id, 128, "png").write_bytes(old.getvalue())
    assert client.get(f"/a/{public_id}.png", params={"s": 128}).content == old.getvalue()
    assert avatar_files(public_id) == {"128.png"}
    # Any other variant makes the master first, from the untouched 64 px file.
    assert _png(client.get(f"/a/{public_id}.webp", params={"s": 300})).size == (300, 300)
    assert avatar_files(public_id) == {"128.png", "master.png"}
    with Image.open(delivery.avatar_dir(public_id) / "master.png") as master:
        assert np.array_equal(np.asarray(master), np.asarray(_master(public_id, pixel_art=False)))
    assert hashlib.sha256((stored / _image_path(public_id)).read_bytes()).hexdigest() == original


def _image_path(public_id: str) -> str:
    from sqlalchemy import select

    from effigies.avatars.models import Avatar
    from effigies.db import session_scope

    with session_scope() as session:
        return session.scalar(select(Avatar.image_path).where(Avatar.public_id == public_id))


def test_an_avatar_whose_owner_is_gone_still_serves(client, stack):
    from sqlalchemy import update

    from effigies.avatars.models import Avatar
    from effigies.db import session_scope

    public_id = buy(stack, "galactic-droids")
    with session_scope() as session:
        session.execute(update(Avatar).where(Avatar.public_id == public_id).values(owner_id=None))
    assert _png(client.get(f"/a/{public_id}.png", params={"s": 48})).size == (48, 48)
    assert _png(client.get(f"/a/{public_id}.jpg", params={"s": 250})).size == (250, 250)


def test_the_variant_cache_is_bounded_least_recently_used_first():
    from effigies.avatars.public import VariantCache, make_variant

    cache = VariantCache(max_bytes=30)
    for key in ("a", "b", "c"):
        cache.put((key, 64, "png"), make_variant(key.encode() * 10))
    assert len(cache) == 3 and cache.size == 30
    cache.get(("a", 64, "png"))
    cache.put(("d", 64, "png"), make_variant(b"d" * 10))
    assert cache.get(("b", 64, "png")) is None and cache.get(("a", 64, "png")) is not None and cache.size == 30
    cache.put(("huge", 64, "png"), make_variant(b"x" * 31))  # bigger than the whole cache: not kept
    assert cache.get(("huge", 64, "png")) is None and len(cache) == 3


def test_two_api_processes_serve_the_whole_app(stack, smooth_id):
    """`effigies api --workers 2`: health, a page, the public URL and a logged-in write all work."""
    import psutil

    port = free_port()
    env = {**stack.env, "EE_PORT": str(port), "EE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    log = open(stack.data_dir / "logs" / "api-2-workers.log", "ab")
    api = subprocess.Popen([sys.executable, "-m", "effigies.cli", "api", "--workers", "2"], env=env, cwd=ROOT,
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/api/health", 90, api)
        workers = [c for c in psutil.Process(api.pid).children() if "spawn_main" in " ".join(c.cmdline())]
        assert len(workers) == 2
        reference = httpx.get(f"{stack.url}/a/{smooth_id}.png", params={"s": 256})
        etags = set()
        for _ in range(12):  # new connections: both processes get some
            with httpx.Client(base_url=url, timeout=30) as c:
                image = c.get(f"/a/{smooth_id}.png", params={"s": 256})
                assert image.status_code == 200 and image.content == reference.content
                etags.add(image.headers["etag"])
                assert c.get("/").status_code == 200
        assert etags == {reference.headers["etag"]}  # the same strong ETag from every process
        with httpx.Client(base_url=url, timeout=30) as c:
            c.get("/api/config")
            email = f"two-{uuid.uuid4().hex[:10]}@players.effigies.fr"
            asked = c.post("/api/auth/signup", headers={"X-CSRF-Token": c.cookies["csrftoken"]},
                           json={"email": email, "password": "correct-horse-battery", "display_name": "Two"})
            assert asked.status_code == 202, asked.text
            signup = c.post("/api/auth/signup/confirm", headers={"X-CSRF-Token": c.cookies["csrftoken"]},
                            json={"token": signup_link(c, email)})
            assert signup.status_code == 200, signup.text
            for _ in range(6):
                assert c.get("/api/me").json()["email"] == email
    finally:
        os.killpg(api.pid, 15)
        api.wait(30)
        log.close()
