"""The "how it learns" data: sample grids along training and the smoothed losses."""
import io

import pytest
from PIL import Image

SHIPPED = ("galactic-droids", "pixel-heroes", "emoji-folk", "arcane-sigils")


@pytest.mark.parametrize("slug", SHIPPED)
def test_every_shipped_theme_tells_how_it_learned(client, slug):
    body = client.get(f"/api/themes/{slug}/learning").json()
    # Pixel heroes and Emoji folk ship the frames of the very run that made their generator; the older
    # generators predate timelines and show a re-run of their recipe, and the page says so.
    assert body["replay"] is (slug not in ("pixel-heroes", "emoji-folk", "galactic-droids"))
    frames = body["frames"]
    assert len(frames) >= 6
    assert frames[0]["images"] == 0  # the untrained generator: noise
    assert [f["images"] for f in frames] == sorted({f["images"] for f in frames})
    first, last = (client.get(frames[i]["url"]) for i in (0, -1))
    assert first.status_code == last.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(first.content)).size == Image.open(io.BytesIO(last.content)).size
    assert first.content != last.content
    losses = body["losses"]
    assert len(losses) >= 10 and all(len(p) == 3 and p[1] > 0 and p[2] > 0 for p in losses)
    assert losses[-1][0] >= frames[-1]["images"] - 128


def test_missing_timelines_and_odd_names_are_404(client):
    assert client.get("/api/themes/no-such-theme/learning").status_code == 404
    for name in ("../generator.json", "frame_1.jpg", "frame_000000.png", "generator.safetensors"):
        response = client.get(f"/api/themes/pixel-heroes/learning/{name}")
        assert response.status_code == 404, name


def test_a_theme_whose_generator_kept_no_timeline_says_so(stack):
    from effigies.db import session_scope
    from effigies.themes.learning import timeline
    from effigies.themes.models import Theme
    from effigies.themes.service import ThemesError

    with session_scope() as session, pytest.raises(ThemesError) as refused:
        timeline(session=session, theme=Theme(slug="draft-theme", current_model_version_id=None))
    assert (refused.value.code, refused.value.status) == ("timeline_not_found", 404)
