"""The home page's large fresh avatars (effigies.generation.showcase), through the real stack: the
API finds no set, asks the worker, which draws one per published theme; images are 256 px WebP
with the theme's alpha, served under names that never change meaning; a stale set is redrawn."""
from __future__ import annotations

import io
import json
import time

from PIL import Image

from effigies.generation.showcase import SHOWCASE_COUNT

RGBA_THEMES = {"galactic-droids", "emoji-folk"}
RGB_THEMES = {"pixel-heroes", "arcane-sigils"}  # (other tests publish themes of their own on this stack)


def wait_showcase(client, *, until, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/api/showcase")
        assert response.status_code == 200, response.text
        body = response.json()
        if until(body):
            return body
        time.sleep(0.3)
    raise AssertionError(f"showcase not ready after {timeout}s: {body}")


def by_slug(body: dict) -> dict[str, list[str]]:
    return {t["slug"]: t["images"] for t in body["themes"]}


def test_every_published_theme_gets_fresh_large_avatars_and_stale_sets_are_redrawn(client, stack):
    published = [t["slug"] for t in client.get("/api/themes").json()]
    body = wait_showcase(client, until=lambda b: all(len(v) == SHOWCASE_COUNT for v in by_slug(b).values()))
    shown = by_slug(body)
    assert [t["slug"] for t in body["themes"]] == published  # the themes' own order
    assert client.get("/api/showcase").headers["cache-control"] == "no-cache"

    for slug, urls in shown.items():
        assert len(set(urls)) == SHOWCASE_COUNT
        image = client.get(urls[0])
        assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
        assert "immutable" in image.headers["cache-control"]
        with Image.open(io.BytesIO(image.content)) as im:
            assert im.size == (256, 256)
            if slug in RGBA_THEMES | RGB_THEMES:
                assert (im.mode == "RGBA") == (slug in RGBA_THEMES), (slug, im.mode)
            if slug in RGBA_THEMES:
                alpha = im.getchannel("A")
                # A transparent background around an opaque figure, as the avatar is delivered.
                assert alpha.getpixel((0, 0)) == 0 and alpha.getextrema() == (0, 255)

    # Asked again, the same set: nothing is drawn per request.
    assert by_slug(client.get("/api/showcase").json()) == shown

    # An hour later (the index says so), the next request asks for a new set; the old images
    # stay served meanwhile, for pages that loaded them.
    slug = published[0]
    index_path = stack.data_dir / "images" / "showcase" / slug / "index.json"
    index = json.loads(index_path.read_text())
    index["drawn_at"] -= 3601
    index_path.write_text(json.dumps(index))
    renewed = by_slug(wait_showcase(client, until=lambda b: set(by_slug(b)[slug]).isdisjoint(shown[slug])))
    assert len(renewed[slug]) == SHOWCASE_COUNT
    assert client.get(shown[slug][0]).status_code == 200
    assert {s: v for s, v in renewed.items() if s != slug} == {s: v for s, v in shown.items() if s != slug}


def test_showcase_image_names_are_checked(client):
    for path in ("/api/showcase/galactic-droids/index.json", "/api/showcase/galactic-droids/..%2F..%2Fsigning-key.pem",
                 "/api/showcase/galactic-droids/000000000000-0.webp", "/api/showcase/NOPE!/000000000000-0.webp"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] in ("showcase_image_not_found", "not_found"), response.text
