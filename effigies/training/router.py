"""Admin API of training runs; mounted under /api/admin, whose router requires the admin role."""
from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import FileResponse

from effigies.api.deps import AdminUser, SessionDep
from effigies.api.openapi import content, errors
from effigies.config import get_settings
from effigies.training import presets, service
from effigies.training.models import TrainingRun
from effigies.training.schemas import (
    PresetOut,
    TrainingProgressOut,
    TrainingRunCreated,
    TrainingRunIn,
    TrainingRunOut,
)

router = APIRouter(tags=["training"])


def run_out(run: TrainingRun, slug: str, version) -> TrainingRunOut:
    """`version`: the themes.models.ModelVersion the run made, or None."""
    progress = run.progress or {}
    return TrainingRunOut(
        id=run.id,
        theme_slug=slug,
        preset=run.preset,
        status=run.status,
        cancel_requested=run.cancel_requested,
        attempts=run.attempts,
        options=run.options or {},
        progress=TrainingProgressOut.model_validate(progress),
        # The step in the URL makes every new grid a new address (no stale cached image).
        sample_url=f"/api/admin/training-runs/{run.id}/samples.png?at={progress['sample_images']}"
        if progress.get("sample") else None,
        model_version_id=run.model_version_id,
        model_version=version.version if version is not None else None,
        metrics=version.metrics if version is not None else None,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


@router.get("/training-presets", response_model=list[PresetOut])
def list_presets(_: AdminUser):
    return [PresetOut(name=p.name, total_images=p.total_images, why=p.why) for p in presets.presets(get_settings()).values()]


@router.post("/themes/{slug}/training-runs", status_code=202, response_model=TrainingRunCreated, responses=errors(409, 503))
def start_training(slug: str, body: TrainingRunIn, admin: AdminUser, session: SessionDep):
    run = service.submit_run(session=session, slug=slug, preset=body.preset, user_id=admin.id)
    return TrainingRunCreated(id=run.id, status=run.status)


@router.get("/themes/{slug}/training-runs", response_model=list[TrainingRunOut])
def list_training_runs(slug: str, _: AdminUser, session: SessionDep):
    return [run_out(run, slug, version) for run, version in service.list_runs(session=session, slug=slug)]


@router.get("/training-runs/{run_id}", response_model=TrainingRunOut)
def get_training_run(run_id: uuid.UUID, _: AdminUser, session: SessionDep):
    return run_out(*service.get_run(session=session, run_id=run_id))


@router.get("/training-runs/{run_id}/samples.png", response_class=FileResponse, responses=content("image/png"))
def training_samples(run_id: uuid.UUID, _: AdminUser, session: SessionDep):
    run, _slug, _version = service.get_run(session=session, run_id=run_id)
    path = service.sample_path(run=run)
    if path is None:
        raise service.TrainingError("sample_not_found", "This run has no sample grid yet.", status=404)
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, no-cache"})


@router.post("/training-runs/{run_id}/cancel", status_code=202, response_model=TrainingRunOut)
def cancel_training_run(run_id: uuid.UUID, _: AdminUser, session: SessionDep):
    service.request_cancel(session=session, run_id=run_id)
    return run_out(*service.get_run(session=session, run_id=run_id))
