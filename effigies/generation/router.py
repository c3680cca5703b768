from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter
from fastapi.responses import FileResponse
from kombu.exceptions import OperationalError as BrokerError

from effigies.api.deps import CurrentUser, SessionDep
from effigies.api.ratelimit import hit
from effigies.errors import DomainError
from effigies.generation import service
from effigies.generation.schemas import CandidateOut, GenerationCreated, GenerationIn, GenerationOut

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["generation"])


@router.post("/themes/{slug}/generations", status_code=202, response_model=GenerationCreated)
def create_generation(slug: str, user: CurrentUser, session: SessionDep, body: GenerationIn | None = None):
    from effigies.generation.tasks import generate_candidates

    hit("generate", str(user.id), limit=30, window_s=60)
    job = service.create_job(session=session, user_id=user.id, slug=slug, count=(body or GenerationIn()).count)
    session.commit()
    try:
        generate_candidates.apply_async(args=[str(job.id)], retry=False)
    except (BrokerError, OSError):
        log.exception("could not queue generation %s", job.id)
        service.mark_failed(session=session, job_id=job.id, error="The generation queue is unavailable.")
        session.commit()
        raise DomainError("queue_unavailable", "Generation is briefly unavailable. Please try again in a moment.", status=503)
    return GenerationCreated(id=job.id)


@router.get("/generations/{job_id}", response_model=GenerationOut)
def get_generation(job_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    job, theme, candidates = service.get_job(session=session, job_id=job_id, user_id=user.id)
    return GenerationOut(
        id=job.id,
        theme_slug=theme.slug,
        status=job.status,
        error=job.error,
        candidates=[
            CandidateOut(id=c.id, preview_url=f"/api/candidates/{c.id}/preview.png", expires_at=c.expires_at, status=c.status)
            for c in candidates
        ],
    )


@router.get("/candidates/{candidate_id}/preview.png", response_class=FileResponse)
def candidate_preview(candidate_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    candidate = service.candidate_for_user(session=session, candidate_id=candidate_id, user_id=user.id)
    service.ensure_offered(candidate)
    return FileResponse(
        service.candidate_image_path(candidate), media_type="image/png", headers={"Cache-Control": "private, max-age=1800"}
    )
