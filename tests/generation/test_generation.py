import io

from PIL import Image

from tests.conftest import wait_generation


def test_generation_runs_on_the_worker_and_offers_distinct_candidates(make_user):
    user, _ = make_user()
    created = user.post("/api/themes/galactic-droids/generations", json={"count": 4})
    assert created.status_code == 202, created.text
    body = wait_generation(user, created.json()["id"])
    assert body["status"] == "done", body
    assert len(body["candidates"]) == 4
    images = []
    for candidate in body["candidates"]:
        preview = user.get(candidate["preview_url"])
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/webp"
        image = Image.open(io.BytesIO(preview.content))
        assert (image.format, image.size) == ("WEBP", (256, 256))
        images.append(image.tobytes())
    assert len(set(images)) == 4


def test_previews_show_the_256_px_master_lightly_marked_and_the_clean_image_stays_private(make_user):
    import numpy as np
    from sqlalchemy import select

    from effigies.generation.master import make_master
    from effigies.db import session_scope
    from effigies.generation import service
    from effigies.generation.models import Candidate

    user, _ = make_user()
    job = user.post("/api/themes/arcane-sigils/generations", json={"count": 1}).json()
    candidate = wait_generation(user, job["id"])["candidates"][0]
    shown = Image.open(io.BytesIO(user.get(candidate["preview_url"]).content)).convert("RGB")
    with session_scope() as session:
        row = session.scalar(select(Candidate).where(Candidate.id == candidate["id"]))
        clean = Image.open(service.candidate_image_path(row)).convert("RGB")
    # What will be delivered: the master every public size is drawn from.
    from effigies.themes.service import PRETRAINED_DIR

    master = make_master(clean, pixel_art=False, weights_dir=PRETRAINED_DIR / "arcane-sigils")  # its upscaler (an opaque theme: the preview has no checkerboard)
    preview, delivered = np.asarray(shown, dtype=float), np.asarray(master, dtype=float)
    difference = np.abs(preview - delivered).mean(axis=2)
    # Light: fewer pixels touched than by the former text pattern (~9.6% by > 12 levels, mean 2.8
    # before JPEG; WebP's own error adds ~1.5 here); the picture can be judged between the lines.
    assert 0.02 < (difference > 12).mean() < 0.10
    assert difference.mean() < 6
    # Yet no crop escapes it: every 64 px square of the picture (a circle, a corner) is crossed.
    assert min(difference[y:y + 64, x:x + 64].max() for y in range(0, 193, 16) for x in range(0, 193, 16)) > 20
    # And it survives the shrinking an avatar goes through (a 128 px profile picture).
    small = np.abs(np.asarray(shown.resize((128, 128), Image.Resampling.LANCZOS), dtype=float)
                   - np.asarray(master.resize((128, 128), Image.Resampling.LANCZOS), dtype=float))
    assert small.mean() > 1
    # No URL hands out the clean file before the sale.
    for name in ("preview.png", "preview.jpg", "image.png"):
        assert user.get(candidate["preview_url"].replace("preview.webp", name)).status_code == 404


def test_an_rgba_theme_keeps_alpha_in_the_clean_file_and_fingerprints_its_white_composite(rgba_theme, make_user):
    import numpy as np
    from sqlalchemy import select

    from effigies.db import session_scope
    from effigies.gan.sample import composite
    from effigies.generation import service
    from effigies.generation.models import Candidate
    from effigies.generation.master import make_master
    from effigies.generation.preview import checkerboard
    from effigies.uniqueness.fingerprint import fingerprint, on_background

    user, _ = make_user()
    created = user.post(f"/api/themes/{rgba_theme}/generations", json={"count": 2})
    assert created.status_code == 202, created.text
    body = wait_generation(user, created.json()["id"])
    assert body["status"] == "done" and len(body["candidates"]) == 2, body
    for candidate in body["candidates"]:
        with session_scope() as session:
            row = session.scalar(select(Candidate).where(Candidate.id == candidate["id"]))
        with Image.open(service.candidate_image_path(row)) as clean:
            clean.load()
        pixels = np.asarray(clean)
        assert clean.mode == "RGBA" and (pixels[..., 3] < 255).any()
        # The registry reads the one white composite, as for every sale before RGBA themes.
        assert row.fingerprint == fingerprint(Image.fromarray(composite(pixels[None])[0]))

        preview = Image.open(io.BytesIO(user.get(candidate["preview_url"]).content))
        assert (preview.format, preview.mode, preview.size) == ("WEBP", "RGB", (256, 256))
        # Transparency shows as the checkerboard, not as a background the avatar doesn't have.
        master = make_master(clean, pixel_art=False, weights_dir=None)
        assert master.mode == "RGBA"
        shown = np.asarray(preview, dtype=float)
        on_checker = np.asarray(Image.alpha_composite(checkerboard(256, 16), master).convert("RGB"), dtype=float)
        on_white = np.asarray(on_background(master), dtype=float)
        assert np.abs(shown - on_checker).mean() < 12 < np.abs(shown - on_white).mean()
        assert user.get(candidate["preview_url"].replace("preview.webp", "preview.png")).status_code == 404


def test_a_transparent_preview_shows_the_checkerboard_and_nothing_stored_under_alpha_0():
    import numpy as np

    from effigies.generation.preview import CHECKER, watermarked_preview

    hidden = np.zeros((64, 64, 4), dtype=np.uint8)
    hidden[..., 0] = 255  # red, fully transparent
    for pixel_art in (False, True):
        preview = np.asarray(watermarked_preview(Image.fromarray(hidden), pixel_art=pixel_art, weights_dir=None))
        assert preview.shape == (256, 256, 3)
        assert np.array_equal(preview[..., 0], preview[..., 1])  # grey: no red leaks out
        squares = [np.median(preview[r:r + 16, c:c + 16, 0]) for r, c in ((0, 0), (0, 16), (16, 0), (16, 16))]
        assert squares == [CHECKER[0][0], CHECKER[1][0], CHECKER[1][0], CHECKER[0][0]]


def test_count_is_validated(make_user):
    user, _ = make_user()
    for count in (0, 9, "four"):
        response = user.post("/api/themes/galactic-droids/generations", json={"count": count})
        assert response.status_code == 422, count


def test_someone_elses_generation_and_preview_are_404(make_user):
    alice, _ = make_user()
    bob, _ = make_user()
    job = alice.post("/api/themes/galactic-droids/generations", json={"count": 1}).json()
    body = wait_generation(alice, job["id"])
    assert bob.get(f"/api/generations/{job['id']}").status_code == 404
    assert bob.get(body["candidates"][0]["preview_url"]).status_code == 404


def test_a_visitor_may_generate_without_logging_in(client):
    """Try first (tests/generation/test_visitors.py): no account needed, a visitor id instead."""
    response = client.post("/api/themes/galactic-droids/generations", json={"count": 1})
    assert response.status_code == 202, response.text
    assert client.cookies.get("ee_visitor")


def test_candidates_near_a_sold_avatar_are_never_offered(stack):
    """Run the same job twice: the second run's images equal the first's, now registered as sold."""
    import uuid as uuid_mod

    from effigies.accounts import service as accounts_service
    from effigies.config import get_settings
    from effigies.db import session_scope
    from effigies.generation import jobs as generation_jobs
    from effigies.generation import service as generation_service
    from effigies.generation.models import Candidate
    from effigies.uniqueness import service as uniqueness_service
    from effigies.uniqueness.fingerprint import hamming

    with session_scope() as session:
        user = accounts_service.signup(
            session=session, email=f"gen-{uuid_mod.uuid4().hex[:8]}@players.effigies.fr", password="correct-horse-battery", display_name="G"
        )
        first = generation_service.create_job(session=session, user_id=user.id, slug="galactic-droids", count=3)
        second = generation_service.create_job(session=session, user_id=user.id, slug="galactic-droids", count=3)
        second.seed = first.seed
        first_id, second_id = first.id, second.id
    assert generation_jobs.run_job(job_id=first_id) == "done"
    with session_scope() as session:
        sold = session.query(Candidate).filter_by(job_id=first_id).all()
        for c in sold:
            uniqueness_service.register(session=session, value=c.fingerprint, kind="sold")
        sold_hashes = [c.fingerprint for c in sold]
    generation_jobs.run_job(job_id=second_id)
    with session_scope() as session:
        offered = session.query(Candidate).filter_by(job_id=second_id).all()
        assert offered, "the job should top up with fresh images"
        radius = get_settings().uniqueness_radius
        for c in offered:
            assert min(hamming(c.fingerprint, h) for h in sold_hashes) > radius


def test_expired_candidates_lose_their_files_on_the_worker_then_their_rows(make_user):
    import time
    from datetime import timedelta

    from sqlalchemy import select

    from effigies.db import session_scope, utcnow
    from effigies.generation import service
    from effigies.generation.models import Candidate
    from effigies.generation.tasks import sweep_expired_candidates

    user, _ = make_user(balance_cents=100)
    job = user.post("/api/themes/galactic-droids/generations", json={"count": 2}).json()
    body = wait_generation(user, job["id"])
    old, fresh = (c["id"] for c in body["candidates"])
    with session_scope() as session:
        rows = {str(c.id): c for c in session.scalars(select(Candidate).where(Candidate.job_id == job["id"]))}
        rows[old].expires_at = utcnow() - timedelta(seconds=1)
        old_file, fresh_file = service.candidate_image_path(rows[old]), service.candidate_image_path(rows[fresh])
    assert old_file.is_file() and fresh_file.is_file()

    # The real worker runs the beat task (routed to the generate queue).
    sweep_expired_candidates.apply_async()
    deadline = time.monotonic() + 30
    while old_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    # Files go only after the commit: once the file is gone, the status is visible.
    assert not old_file.exists()
    with session_scope() as session:
        assert session.get(Candidate, old).status == "expired"
        assert session.get(Candidate, fresh).status == "offered"
    assert not old_file.with_suffix(".preview.webp").exists()
    assert fresh_file.is_file() and user.get(f"/api/candidates/{fresh}/preview.webp").status_code == 200
    gone = user.get(f"/api/candidates/{old}/preview.webp")
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "candidate_expired"
    assert user.post(f"/api/candidates/{old}/purchase", json={"withdrawal_waiver": True}).status_code == 410

    # Twice is harmless; a week later the row itself goes (then it is simply unknown).
    assert sweep_expired_candidates() == {"expired": 0, "deleted": 0}
    with session_scope() as session:
        session.get(Candidate, old).expires_at = utcnow() - service.EXPIRED_ROW_RETENTION - timedelta(minutes=1)
    assert sweep_expired_candidates() == {"expired": 0, "deleted": 1}
    with session_scope() as session:
        assert session.get(Candidate, fresh) is not None and session.get(Candidate, old) is None
    assert user.get(f"/api/candidates/{old}/preview.webp").status_code == 404


def test_proposals_survive_a_reload_newest_first_and_only_while_for_sale(make_user):
    """GET /api/themes/{slug}/proposals is what a reloaded theme page (or another device) shows."""
    from sqlalchemy import update

    from effigies.db import session_scope
    from effigies.generation.models import Candidate

    user, _ = make_user()
    other, _ = make_user()
    first = wait_generation(user, user.post("/api/themes/arcane-sigils/generations", json={"count": 2}).json()["id"])
    second = wait_generation(user, user.post("/api/themes/arcane-sigils/generations", json={"count": 3}).json()["id"])
    elsewhere = wait_generation(user, user.post("/api/themes/pixel-heroes/generations", json={"count": 1}).json()["id"])
    assert {first["status"], second["status"], elsewhere["status"]} == {"done"}
    ids = lambda body: [c["id"] for c in body["candidates"]]  # noqa: E731

    shown = user.get("/api/themes/arcane-sigils/proposals")
    assert shown.status_code == 200
    proposals = shown.json()["proposals"]
    assert [p["id"] for p in proposals] == ids(second) + ids(first)
    assert {p["theme_slug"] for p in proposals} == {"arcane-sigils"} and all(p["status"] == "offered" for p in proposals)
    assert user.get(proposals[0]["preview_url"]).status_code == 200
    everywhere = [p["id"] for p in user.get("/api/me/proposals").json()["proposals"]]
    assert everywhere == ids(elsewhere) + ids(second) + ids(first)
    assert other.get("/api/themes/arcane-sigils/proposals").json() == {"proposals": []}  # one's own only

    # An expired proposal is no longer shown; a sold one neither.
    with session_scope() as session:
        session.execute(update(Candidate).where(Candidate.id == ids(first)[0]).values(expires_at=Candidate.created_at))
    buyer, _ = make_user(balance_cents=100)
    bought = wait_generation(buyer, buyer.post("/api/themes/arcane-sigils/generations", json={"count": 2}).json()["id"])
    assert buyer.post(f"/api/candidates/{ids(bought)[0]}/purchase", json={"withdrawal_waiver": True}).status_code == 201
    assert [p["id"] for p in buyer.get("/api/themes/arcane-sigils/proposals").json()["proposals"]] == ids(bought)[1:]
    assert [p["id"] for p in user.get("/api/themes/arcane-sigils/proposals").json()["proposals"]] == (
        ids(second) + ids(first)[1:])
    assert user.get("/api/themes/no-such-theme/proposals").status_code == 404
