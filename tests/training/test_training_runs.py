"""Training runs through the admin API, on the real stack and its train worker (queue `train`)."""
from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tests.training.helpers import draft_theme, run_row, theme_status, theme_versions, wait_for

pytestmark = pytest.mark.slow


def _run(admin, run_id) -> dict:
    r = admin.get(f"/api/admin/training-runs/{run_id}")
    assert r.status_code == 200, r.text
    return r.json()


def test_a_quick_run_reports_progress_and_ends_with_one_loadable_version(stack, make_user):
    from effigies.gan.checkpoint import load_generator
    from effigies.gan.sample import latents, sample
    from effigies.themes.service import resolve_weights_dir

    admin, _ = make_user(role="admin")
    slug = draft_theme(stack)
    presets = {p["name"]: p for p in admin.get("/api/admin/training-presets").json()}
    assert set(presets) == {"quick", "standard", "long"} and presets["quick"]["total_images"] == 256

    r = admin.post(f"/api/admin/themes/{slug}/training-runs", json={"preset": "quick"})
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    assert theme_status(slug) == "training"
    again = admin.post(f"/api/admin/themes/{slug}/training-runs", json={"preset": "quick"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "training_in_progress"

    seen = []
    body = wait_for(lambda: seen.append(b := _run(admin, run_id)) or (b if b["status"] not in ("queued", "running") else None),
                    300, "the quick run to end", interval=0.5)
    assert body["status"] == "done", body
    assert any(b["status"] == "running" and b["progress"]["step"] for b in seen), "no live progress seen"
    progress = body["progress"]
    assert progress["images"] == progress["total"] == 256 and progress["step"] == progress["total_steps"]
    assert progress["losses"] and all(len(p) == 3 for p in progress["losses"])
    assert progress["images_per_s"] > 0 and progress["device"] in ("cpu", "cuda", "cuda:0")
    assert body["options"]["diffaugment_on"] is True and body["options"]["width"] == 32  # 64 images < 5,000
    assert body["attempts"] == 1 and body["model_version"] == 1
    assert body["metrics"]["swd"] is not None and 0 <= body["metrics"]["diversity"] <= 1
    assert progress["swd"] and progress["swd"][-1][1] == body["metrics"]["swd"]
    grid = admin.get(body["sample_url"])
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png" and grid.content[:4] == b"\x89PNG"

    versions = theme_versions(slug)
    assert [v.id for v in versions] == [uuid.UUID(body["model_version_id"])]
    weights = resolve_weights_dir(versions[0].weights_dir)
    generator, config = load_generator(weights)
    # Its set is samples of Emoji folk, transparent since 2026-12-02: the run draws alpha too.
    assert config.nc == 4 and sample(generator, latents(4, config.nz, seed=1)).shape == (4, 64, 64, 4)
    for name in ("samples.png", "metrics.json", "training_fingerprints.safetensors", "timeline/timeline.json"):
        assert (weights / name).is_file(), name
    assert theme_status(slug) == "ready"  # trained, not yet published

    listed = admin.get(f"/api/admin/themes/{slug}/training-runs").json()
    assert [r["id"] for r in listed] == [run_id] and listed[0]["model_version"] == 1


def test_cancel_stops_a_running_run_at_a_checkpoint_and_a_queued_one_at_once(stack, make_user):
    from effigies.db import session_scope
    from effigies.training import service

    admin, _ = make_user(role="admin")
    slug = draft_theme(stack)
    run_id = admin.post(f"/api/admin/themes/{slug}/training-runs", json={"preset": "long"}).json()["id"]
    wait_for(lambda: _run(admin, run_id)["progress"].get("phase") == "training", 180, "the long run to start training")
    r = admin.post(f"/api/admin/training-runs/{run_id}/cancel")
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    body = wait_for(lambda: (b := _run(admin, run_id))["status"] != "running" and b, 30, "the run to stop")
    assert body["status"] == "cancelled" and body["model_version_id"] is None, body
    assert (service.run_dir(uuid.UUID(run_id)) / "checkpoints" / "latest.json").is_file()
    assert theme_versions(slug) == [] and theme_status(slug) == "draft"

    # Nobody listens to this queue: the run stays queued until the cancel ends it on the spot.
    with session_scope() as session:
        queued = service.start_run(session=session, slug=slug, preset="quick", user_id=None, queue="nobody-listens")
    r = admin.post(f"/api/admin/training-runs/{queued.id}/cancel")
    assert r.json()["status"] == "cancelled" and run_row(queued.id).finished_at is not None
    assert admin.post(f"/api/admin/training-runs/{queued.id}/cancel").json()["status"] == "cancelled"


def test_a_theme_without_images_cannot_be_trained(stack, make_user):
    import shutil

    admin, _ = make_user(role="admin")
    slug = draft_theme(stack, images=1)
    shutil.rmtree(Path(stack.data_dir) / "datasets" / slug)
    r = admin.post(f"/api/admin/themes/{slug}/training-runs", json={"preset": "quick"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "dataset_missing"
    r = admin.post(f"/api/admin/themes/{slug}/training-runs", json={"preset": "huge"})
    assert r.status_code == 422
    r = admin.post("/api/admin/themes/no-such-theme/training-runs", json={"preset": "quick"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "theme_not_found"
    r = admin.get(f"/api/admin/training-runs/{uuid.uuid4()}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "training_run_not_found"


def test_every_training_route_is_for_admins_only(stack, client, make_user):
    from effigies.api.app import create_app

    user, _ = make_user()
    routes = [(method.upper(), path) for path, item in create_app().openapi()["paths"].items()
              if "training" in path for method in item]
    assert len(routes) == 6, routes
    for method, path in routes:
        url = path.replace("{slug}", "emoji-folk").replace("{run_id}", str(uuid.uuid4()))
        body = {"preset": "quick"} if method == "POST" else None
        assert user.request(method, url, json=body).status_code == 403, (method, path)
        assert client.request(method, url, json=body).status_code == 401, (method, path)


def test_a_run_whose_images_vanished_fails_with_a_readable_error(stack, make_user):
    import shutil

    from effigies.db import session_scope
    from effigies.training import service

    admin, _ = make_user(role="admin")
    slug = draft_theme(stack, images=4)
    with session_scope() as session:
        run = service.start_run(session=session, slug=slug, preset="quick", user_id=None)
    shutil.rmtree(Path(stack.data_dir) / "datasets" / slug)
    service.enqueue(run.id, run.queue)
    body = wait_for(lambda: (b := _run(admin, run.id))["status"] not in ("queued", "running") and b, 60, "the run to fail")
    assert body["status"] == "failed" and "dataset folder is missing" in body["error"], body
    assert theme_status(slug) == "draft" and theme_versions(slug) == []


def test_the_sweep_resends_lost_messages_and_ends_cancelled_runs_of_dead_workers(stack):
    from sqlalchemy import func, update

    from effigies.db import session_scope
    from effigies.training import service
    from effigies.training.models import TrainingRun

    slug, dead_slug = draft_theme(stack, images=4), draft_theme(stack, images=4)
    with session_scope() as session:
        lost = service.start_run(session=session, slug=slug, preset="quick", user_id=None, queue="nobody-listens")
        dead = service.start_run(session=session, slug=dead_slug, preset="quick", user_id=None, queue="nobody-listens")
    with session_scope() as session:
        # A message sent long ago that never led anywhere, and a worker that died after a cancel.
        session.execute(update(TrainingRun).where(TrainingRun.id == lost.id)
                        .values(enqueued_at=func.now() - timedelta(minutes=20)))
        session.execute(update(TrainingRun).where(TrainingRun.id == dead.id).values(
            status="running", cancel_requested=True, lease_owner="gone:1:x",
            lease_expires_at=func.now() - timedelta(seconds=1)))
    with session_scope() as session:
        resend = service.recover(session=session, requeue_after_s=600)
    assert (lost.id, "nobody-listens") in resend and all(run_id != dead.id for run_id, _ in resend)
    assert run_row(dead.id).status == "cancelled" and theme_status(dead_slug) == "draft"
    with session_scope() as session:  # sent again just now: not again before another 10 minutes
        assert all(run_id != lost.id for run_id, _ in service.recover(session=session, requeue_after_s=600))
        service.request_cancel(session=session, run_id=lost.id)
