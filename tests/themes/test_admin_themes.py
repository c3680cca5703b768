"""The admin side of themes on the real stack: upload, report, draft, publish, retire, un-retire."""
from __future__ import annotations

import http.client
import io
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete, func, select, text

from effigies.db import session_scope
from effigies.generation.models import Candidate, GenerationJob
from effigies.themes.models import ModelVersion, Theme
from tests.conftest import csrf_token, wait_generation
from tests.themes.archives import (
    bomb_zip,
    build_zip,
    encode,
    generated_pngs,
    good_entries,
    grid_entries,
    huge_png,
    png,
    stored_nothing,
    symlink_entry,
)

FIELDS = {
    "name": "Test heroes",
    "name_fr": "Héros de test",
    "description": "Made by the tests.",
    "description_fr": "Fait par les tests.",
    "attribution": "Samples of the Pixel heroes generator (CC0 1.0).",
    "pixel_art": "true",
}


def _slug() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def _upload(client, slug: str, archive, **fields):
    data = {**FIELDS, "slug": slug, **fields}
    return client.post("/api/admin/themes", data=data, files={"archive": ("examples.zip", archive, "application/zip")})


def _bomb(tmp_path):
    return bomb_zip(tmp_path / "bomb.zip", extra=good_entries(220)).read_bytes()


BAD_UPLOADS = {
    "parent_path": (lambda _: build_zip([*good_entries(), ("../escape.png", png())]), {"../escape.png": "unsafe_path"}),
    "zip_bomb": (_bomb, {"bomb.png": "too_large"}),
    "100_megapixels": (lambda _: build_zip([*good_entries(), ("huge.png", huge_png())]), {"huge.png": "too_many_pixels"}),
    "text_as_png": (lambda _: build_zip([*good_entries(), ("notes.png", b"just some text\n" * 10)]), {"notes.png": "not_an_image"}),
    "symlink": (lambda _: build_zip([*good_entries(), symlink_entry("link.png", "/etc/passwd")]), {"link.png": "link"}),
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("case", BAD_UPLOADS, ids=list(BAD_UPLOADS))
def test_a_bad_upload_gets_a_report_naming_the_entry_and_stores_nothing(case, admin, stack, tmp_path):
    make, expected = BAD_UPLOADS[case]
    slug = _slug()
    response = _upload(admin, slug, make(tmp_path))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "upload_refused"
    assert {p["name"]: p["reason"] for p in error["refused"]} == expected
    assert all(p["message"] for p in error["refused"])
    assert error["min_images"] == 200
    stored_nothing(stack, slug)


def test_too_few_images_states_the_minimum(admin, stack):
    slug = _slug()
    response = _upload(admin, slug, build_zip(good_entries(12)))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "too_few_images" and error["usable_images"] == 12 and error["min_images"] == 200
    assert "200" in error["message"]
    stored_nothing(stack, slug)


def test_invalid_fields_are_refused_before_the_archive_is_read(admin, stack):
    response = _upload(admin, "Not A Slug!", build_zip(good_entries(3)))
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    no_credit = _upload(admin, _slug(), build_zip(good_entries(3)), attribution="")
    assert no_credit.status_code == 422 and "attribution" in no_credit.json()["error"]["message"]
    missing = admin.post("/api/admin/themes", data={**FIELDS, "slug": _slug()})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "archive_missing"


@pytest.mark.parametrize("grid", ["12", "0", "abc"])
def test_a_grid_other_than_8_16_or_32_is_refused_naming_the_allowed_ones(grid, admin, stack):
    slug = _slug()
    response = _upload(admin, slug, build_zip(grid_entries()), pixel_grid=grid)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["details"][0]["field"] == "pixel_grid"
    assert "8, 16 or 32" in error["message"], error["message"]
    stored_nothing(stack, slug)


def test_images_off_the_declared_grid_are_named_and_nothing_is_stored(admin, stack):
    from PIL import Image

    slug = _slug()
    sprite = Image.open(io.BytesIO(grid_entries(1)[0][1])).resize((64, 64), Image.Resampling.NEAREST)
    entries = [*grid_entries(), ("smooth.png", generated_pngs(slug="arcane-sigils")[0]), ("sprite.jpg", encode(sprite, "JPEG"))]
    response = _upload(admin, slug, build_zip(entries), pixel_grid="16")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "upload_refused"
    assert {p["name"]: p["reason"] for p in error["refused"]} == {"smooth.png": "off_grid", "sprite.jpg": "lossy_format"}
    assert "16x16 grid" in next(p["message"] for p in error["refused"] if p["name"] == "smooth.png")
    stored_nothing(stack, slug)


def test_a_pixel_grid_theme_stores_its_grid_and_its_cells(admin, stack):
    import numpy as np
    from PIL import Image

    slug = _slug()
    # A grid is pixel art whatever the checkbox said: its cells are never smoothed.
    response = _upload(admin, slug, build_zip(grid_entries()), pixel_grid="16", pixel_art="false")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["theme"]["pixel_grid"] == 16 and body["theme"]["pixel_art"] is True and body["transparent"] is False
    listed = {t["slug"]: t for t in admin.get("/api/admin/themes").json()}
    assert listed[slug]["pixel_grid"] == 16 and listed["pixel-heroes"]["pixel_grid"] is None
    with session_scope() as session:
        assert session.scalar(select(Theme.pixel_grid).where(Theme.slug == slug)) == 16
    stored = np.asarray(Image.open(sorted((stack.data_dir / "datasets" / slug).glob("*.png"))[0]))
    blocks = stored.reshape(16, 4, 16, 4, 3)
    assert stored.shape == (64, 64, 3) and (blocks == blocks[:, :1, :, :1]).all()


def test_the_upload_route_alone_accepts_large_bodies(stack):
    token = csrf_token(stack.url)

    def declared(path: str, length: int) -> int:
        url = urlsplit(stack.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.putrequest("POST", path)
        conn.putheader("Content-Length", str(length))
        conn.putheader("Cookie", f"csrftoken={token}")
        conn.putheader("X-CSRF-Token", token)
        conn.endheaders()  # no body: the answer must come from the declared length alone
        status = conn.getresponse().status
        conn.close()
        return status

    assert declared("/api/admin/themes", 201_000_000) == 413
    assert declared("/api/auth/login", 2_000_000) == 413
    # Under the upload cap, the admin gate answers before a byte of the body is read.
    assert declared("/api/admin/themes", 150_000_000) == 401


def test_a_good_upload_makes_a_draft_theme_with_its_training_set(admin, stack):
    slug = _slug()
    extra = [("__MACOSX/._hero.png", b"junk"), ("examples/zz-copy.png", good_entries(1)[0][1])]
    response = _upload(admin, slug, build_zip([*good_entries(), *extra]))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["images"] == 220
    assert {p["name"]: p["reason"] for p in body["skipped"]} == {
        "__MACOSX/._hero.png": "system_file", "examples/zz-copy.png": "duplicate",
    }
    theme = body["theme"]
    assert theme["status"] == "draft" and theme["slug"] == slug and theme["pixel_art"] is True
    assert theme["training_images"] == 220 and theme["model_version"] is None and theme["sales"] == 0
    folder = stack.data_dir / "datasets" / slug
    assert len(list(folder.glob("*.png"))) == 220
    assert (folder / "training_fingerprints.safetensors").is_file()
    assert not list(folder.parent.glob(".upload-*"))
    # A draft is the admin's business only.
    assert admin.get(f"/api/themes/{slug}").status_code == 404
    listed = {t["slug"]: t for t in admin.get("/api/admin/themes").json()}
    assert listed[slug]["status"] == "draft" and listed["galactic-droids"]["status"] == "published"
    again = _upload(admin, slug, build_zip(good_entries()))
    assert again.status_code == 409 and again.json()["error"]["code"] == "slug_taken"


def _add_version(slug: str, weights_dir: str) -> str:
    """What a finished training run leaves behind (here: a shipped generator's folder)."""
    with session_scope() as session:
        theme = session.scalar(select(Theme).where(Theme.slug == slug))
        count = session.scalar(select(func.count()).select_from(ModelVersion).where(ModelVersion.theme_id == theme.id))
        version = ModelVersion(theme_id=theme.id, version=count + 1, weights_dir=weights_dir, config={},
                               metrics={"capacity": 123456})
        session.add(version)
        session.flush()
        return str(version.id)


def _candidate_statuses(ids) -> set[str]:
    with session_scope() as session:
        return set(session.scalars(select(Candidate.status).where(Candidate.id.in_(ids))))


def test_publish_retire_and_unretire(admin, make_user, stack):
    slug = _slug()
    assert _upload(admin, slug, build_zip(good_entries())).status_code == 201
    unfinished = _add_version(slug, "data:training/nowhere")
    refused = admin.post(f"/api/admin/themes/{slug}/publish", json={"model_version_id": unfinished})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "model_version_not_ready"
    others = admin.post(f"/api/admin/themes/{slug}/publish", json={"model_version_id": str(uuid.uuid4())})
    assert others.status_code == 404
    # Gone again: a version whose weights are nowhere is no state an installation keeps, and the
    # session's database is backed up by tests/ops, which would rightly report it missing.
    with session_scope() as session:
        session.execute(delete(ModelVersion).where(ModelVersion.id == uuid.UUID(unfinished)))
    assert admin.post(f"/api/admin/themes/{slug}/retire").status_code == 409  # a draft is not on sale

    version = _add_version(slug, "package:pretrained/pixel-heroes")
    published = admin.post(f"/api/admin/themes/{slug}/publish", json={"model_version_id": version})
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published" and published.json()["model_version"]["id"] == version
    assert published.json()["capacity"] == 123456
    assert any(t["slug"] == slug for t in admin.get("/api/themes").json())

    # Generation follows the published version without any worker restarting.
    buyer, _ = make_user(balance_cents=100)
    job = buyer.post(f"/api/themes/{slug}/generations", json={"count": 3}).json()
    candidates = wait_generation(buyer, job["id"])["candidates"]
    assert len(candidates) >= 2
    bought = buyer.post(f"/api/candidates/{candidates[0]['id']}/purchase", json={"withdrawal_waiver": True})
    assert bought.status_code == 201, bought.text
    avatar = bought.json()["avatar"]
    pending = [c["id"] for c in candidates[1:]]

    retired = admin.post(f"/api/admin/themes/{slug}/retire")
    assert retired.status_code == 200, retired.text
    assert retired.json()["theme"]["status"] == "retired" and retired.json()["expired_candidates"] == len(pending)
    assert _candidate_statuses(pending) == {"expired"}
    gone = buyer.post(f"/api/themes/{slug}/generations", json={"count": 1})
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "theme_retired"
    late = buyer.post(f"/api/candidates/{pending[0]}/purchase", json={"withdrawal_waiver": True})
    assert late.status_code == 410
    # What was sold stays sold and visible.
    assert any(a["public_id"] == avatar["public_id"] for a in buyer.get("/api/me/avatars").json())
    assert buyer.get(f"/a/{avatar['public_id']}.png").status_code == 200
    # Refusals are summed over the theme's jobs: the buyer's (what its worker recorded, at least one
    # per image it could not offer) plus a job planted here that failed after 5.
    with session_scope() as session:
        refused = session.scalar(select(GenerationJob.rejected_near_duplicates).where(GenerationJob.id == job["id"]))
        assert refused >= 3 - len(candidates)
        session.execute(text(
            "INSERT INTO generation_jobs (id, user_id, theme_id, model_version_id, count, seed, status, error, "
            "rejected_near_duplicates, candidates_count, finished_at) SELECT gen_random_uuid(), user_id, theme_id, "
            "model_version_id, 1, 7, 'failed', 'Every image came out too close: try again.', 5, 0, now() "
            "FROM generation_jobs WHERE id = :id"), {"id": job["id"]})
        jobs = session.scalar(select(func.count()).select_from(GenerationJob).join(Theme, Theme.id == GenerationJob.theme_id)
                              .where(Theme.slug == slug))
    assert jobs == 2
    row = next(t for t in admin.get("/api/admin/themes").json() if t["slug"] == slug)
    assert (row["sales"], row["revenue_cents"], row["rejected_near_duplicates"]) == (1, 10, refused + 5)
    assert admin.post(f"/api/admin/themes/{slug}/retire").status_code == 409

    back = admin.post(f"/api/admin/themes/{slug}/unretire")
    assert back.status_code == 200 and back.json()["status"] == "published"
    again = buyer.post(f"/api/themes/{slug}/generations", json={"count": 1})
    assert again.status_code == 202, again.text
    assert wait_generation(buyer, again.json()["id"])["status"] == "done"
    assert admin.post(f"/api/admin/themes/{slug}/unretire").status_code == 409


def test_publishing_a_new_version_switches_generation(admin, make_user):
    slug = _slug()
    assert _upload(admin, slug, build_zip(good_entries())).status_code == 201
    first = _add_version(slug, "package:pretrained/pixel-heroes")
    assert admin.post(f"/api/admin/themes/{slug}/publish", json={"model_version_id": first}).status_code == 200
    user, _ = make_user()
    job = user.post(f"/api/themes/{slug}/generations", json={"count": 1}).json()
    assert wait_generation(user, job["id"])["status"] == "done"
    second = _add_version(slug, "package:pretrained/emoji-folk")
    assert admin.post(f"/api/admin/themes/{slug}/publish", json={"model_version_id": second}).status_code == 200
    job = user.post(f"/api/themes/{slug}/generations", json={"count": 1}).json()
    assert wait_generation(user, job["id"])["status"] == "done"
    with session_scope() as session:
        used = session.scalar(select(Candidate.model_version_id).where(Candidate.job_id == uuid.UUID(job["id"])).limit(1))
    assert str(used) == second
