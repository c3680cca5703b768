"""The public avatar URL, GET/HEAD /a/{public_id}.png?s=N, on the real stack (effigies.avatars.public)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, Stack, fund, free_port, wait_generation, wait_http

IMMUTABLE = "public, max-age=31536000, immutable"


def _buy(stack: Stack, slug: str) -> str:
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope

    with session_scope() as session:
        user = accounts_service.signup(session=session, email=f"public-{uuid.uuid4().hex[:10]}@players.effigies.fr",
                                       password="correct-horse-battery", display_name="Public")
        token, user_id = accounts_service.open_session(session=session, user=user), user.id
    fund(user_id, 100)
    with httpx.Client(base_url=stack.url, timeout=30, cookies={"ee_session": token}) as user:
        user.get("/api/config")
        user.headers["X-CSRF-Token"] = user.cookies["csrftoken"]
        job = user.post(f"/api/themes/{slug}/generations", json={"count": 1})
        assert job.status_code in (201, 202), job.text
        body = wait_generation(user, job.json()["id"])
        assert body["status"] == "done", body
        bought = user.post(f"/api/candidates/{body['candidates'][0]['id']}/purchase")
        assert bought.status_code == 201, bought.text
        return bought.json()["avatar"]["public_id"]


@pytest.fixture(scope="module")
def smooth_id(stack: Stack) -> str:
    return _buy(stack, "galactic-droids")


@pytest.fixture(scope="module")
def pixel_id(stack: Stack) -> str:
    return _buy(stack, "pixel-heroes")


@pytest.fixture(scope="module")
def rgba_id(stack: Stack, rgba_theme: str) -> str:
    return _buy(stack, rgba_theme)


def _source(public_id: str) -> Image.Image:
    from sqlalchemy import select

    from effigies.avatars.models import Avatar
    from effigies.config import get_settings
    from effigies.db import session_scope

    with session_scope() as session:
        path = session.scalar(select(Avatar.image_path).where(Avatar.public_id == public_id))
    with Image.open(get_settings().images_dir / path) as image:
        image.load()
        return image.copy()  # as stored: RGB, or RGBA for a transparent theme


def _png(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def _variant_file(public_id: str, size: int) -> Path:
    from effigies.config import get_settings

    return get_settings().images_dir / "avatars" / public_id / f"{size}.png"


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


def test_only_the_listed_sizes_are_served(client, smooth_id):
    from effigies.avatars.service import SIZES

    for size in SIZES:
        assert _png(client.get(f"/a/{smooth_id}.png", params={"s": size})).size == (size, size)
    for bad in ("0", "33", "257", "1024", "4096", "abc", "", "-64", "²", "99999999999"):
        response = client.get(f"/a/{smooth_id}.png", params={"s": bad})
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "invalid_size"
        assert "256" in response.json()["error"]["message"]


def test_unknown_or_malformed_ids_are_json_404s(client):
    for path in ("/a/doesnotexist0000.png", "/a/short.png", "/a/..%2F..%2Fetc%2Fpasswd.png", "/a/a.b.c.d.e.f.g.h.png"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "avatar_not_found"
        assert "set-cookie" not in response.headers
    assert client.post("/a/doesnotexist0000.png").status_code == 405


def test_download_asks_for_a_named_file(client, smooth_id):
    response = client.get(f"/a/{smooth_id}.png", params={"s": 512, "download": "1"})
    assert _png(response).size == (512, 512)
    assert response.headers["content-disposition"] == f'attachment; filename="effigies-{smooth_id}-512.png"'


def test_pixel_art_is_scaled_nearest_neighbour(client, pixel_id):
    source = np.asarray(_source(pixel_id))
    assert source.shape == (64, 64, 3)
    served = _png(client.get(f"/a/{pixel_id}.png", params={"s": 128}))
    assert served.mode == "RGB"  # RGB avatars stay RGB
    scaled = np.asarray(served)
    # Every source pixel becomes a 2x2 block of exactly its colour: no new colour appears.
    for dy in (0, 1):
        for dx in (0, 1):
            assert np.array_equal(scaled[dy::2, dx::2], source)


def test_other_themes_are_scaled_smoothly(client, smooth_id):
    source = _source(smooth_id)
    scaled = _png(client.get(f"/a/{smooth_id}.png", params={"s": 128}))
    assert source.mode == scaled.mode == "RGB"
    assert np.array_equal(np.asarray(scaled), np.asarray(source.resize((128, 128), Image.Resampling.LANCZOS)))
    assert not np.array_equal(np.asarray(scaled), np.asarray(source.resize((128, 128), Image.Resampling.NEAREST)))


def test_a_transparent_avatar_keeps_its_alpha_at_every_size(client, rgba_id):
    source = _source(rgba_id)
    assert source.mode == "RGBA" and source.size == (64, 64)
    for size in (64, 128, 256):
        served = _png(client.get(f"/a/{rgba_id}.png", params={"s": size}))
        assert (served.mode, served.size) == ("RGBA", (size, size))
        pixels = np.asarray(served)
        assert (pixels[..., 3] < 255).any()
        # Smoothed like any drawing, alpha premultiplied by Pillow's resampling.
        assert np.array_equal(pixels, np.asarray(source.resize((size, size), Image.Resampling.LANCZOS)))


def test_variants_are_cached_on_disk_then_in_memory(client, pixel_id):
    from effigies.avatars import service

    variant = _variant_file(pixel_id, 96)
    assert not variant.exists()
    first = client.get(f"/a/{pixel_id}.png", params={"s": 96})
    assert first.status_code == 200 and variant.read_bytes() == first.content
    # On disk, the database is not needed any more (a session that cannot query will do).
    assert service.scaled_image(session=None, public_id=pixel_id, size=96) == first.content
    # In memory (the test API is one process): served without the disk file, which stays gone.
    variant.unlink()
    second = client.get(f"/a/{pixel_id}.png", params={"s": 96})
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert not variant.exists()


def test_an_avatar_whose_owner_is_gone_still_serves(client, stack):
    from sqlalchemy import update

    from effigies.avatars.models import Avatar
    from effigies.db import session_scope

    public_id = _buy(stack, "galactic-droids")
    with session_scope() as session:
        session.execute(update(Avatar).where(Avatar.public_id == public_id).values(owner_id=None))
    assert _png(client.get(f"/a/{public_id}.png", params={"s": 48})).size == (48, 48)


def test_the_variant_cache_is_bounded_least_recently_used_first():
    from effigies.avatars.public import VariantCache, make_variant

    cache = VariantCache(max_bytes=30)
    for key in ("a", "b", "c"):
        cache.put((key, 64), make_variant(key.encode() * 10))
    assert len(cache) == 3 and cache.size == 30
    cache.get(("a", 64))
    cache.put(("d", 64), make_variant(b"d" * 10))
    assert cache.get(("b", 64)) is None and cache.get(("a", 64)) is not None and cache.size == 30
    cache.put(("huge", 64), make_variant(b"x" * 31))  # bigger than the whole cache: not kept
    assert cache.get(("huge", 64)) is None and len(cache) == 3


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
            signup = c.post("/api/auth/signup", headers={"X-CSRF-Token": c.cookies["csrftoken"]},
                            json={"email": email, "password": "correct-horse-battery", "display_name": "Two"})
            assert signup.status_code == 201, signup.text
            for _ in range(6):
                assert c.get("/api/me").json()["email"] == email
    finally:
        os.killpg(api.pid, 15)
        api.wait(30)
        log.close()
