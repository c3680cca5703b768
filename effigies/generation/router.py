from __future__ import annotations

import logging
import uuid

import redis
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, StreamingResponse

from effigies.api.deps import CurrentUser, SessionDep
from effigies.api.openapi import content, errors
from effigies.api.ratelimit import client_ip, hits
from effigies.config import get_settings
from effigies.errors import DomainError
from effigies.generation import board, boards, service, stream
from effigies.generation.schemas import (
    BoardIn, BoardOut, GenerationCreated, GenerationIn, GenerationOut, ProposalsOut,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["generation"])

# Per person, and per address too, so that a handful of accounts can't flood the worker queue.
GENERATION_WINDOW_S = 60  # per-user and per-IP limits: settings.generation_rate_per_user / _per_ip


def _limit(limits: list[tuple[str, str, int]]) -> None:
    """The rate limits live in the Redis that holds the queue: if it is down, so is the queue."""
    try:
        hits(limits, window_s=GENERATION_WINDOW_S)
    except redis.RedisError as exc:
        log.error("generation refused, Redis unavailable: %s", exc)
        raise DomainError("queue_unavailable", service.QUEUE_UNAVAILABLE, status=503) from exc


@router.post(
    "/themes/{slug}/generations", status_code=202, response_model=GenerationCreated, responses=errors(409, 410, 429, 503)
)
def create_generation(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, body: GenerationIn | None = None
):
    settings = get_settings()
    _limit([("generate", str(user.id), settings.generation_rate_per_user),
            ("generate-ip", client_ip(request), settings.generation_rate_per_ip)])
    job_id = service.submit_job(session=session, user_id=user.id, slug=slug, count=(body or GenerationIn()).count)
    return GenerationCreated(id=job_id)


@router.get("/themes/{slug}/proposals", response_model=ProposalsOut, responses=errors(404))
def theme_proposals(slug: str, user: CurrentUser, session: SessionDep):
    """The person's proposals on this theme still for sale, newest first: what a reload shows."""
    return stream.proposals_out(session=session, user_id=user.id, slug=slug)


@router.get("/me/proposals", response_model=ProposalsOut)
def my_proposals(user: CurrentUser, session: SessionDep):
    """Every theme's, newest first (the account page's "My proposals")."""
    return stream.proposals_out(session=session, user_id=user.id)


@router.get("/generations/{job_id}", response_model=GenerationOut)
def get_generation(job_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    return stream.generation_out(session=session, job_id=job_id, user_id=user.id)


@router.get("/generations/{job_id}/events", response_class=StreamingResponse, responses=content("text/event-stream"))
async def generation_events(job_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    """text/event-stream: the job's state now, then its final state when the worker says so."""
    return StreamingResponse(
        await stream.open_stream(session=session, job_id=job_id, user_id=user.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/candidates/{candidate_id}/preview.webp", response_class=FileResponse,
    responses={**content("image/webp"), **errors(410)},
)
def candidate_preview(candidate_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    candidate = service.candidate_for_user(session=session, candidate_id=candidate_id, user_id=user.id)
    service.ensure_offered(candidate)
    return FileResponse(
        service.candidate_preview_path(session=session, candidate=candidate),
        media_type="image/webp",
        headers={"Cache-Control": "private, max-age=1800"},
    )


# A board is 16 or 64 samples: fewer per minute than generations.
BOARD_RATE_PER_USER = 10


@router.post("/themes/{slug}/boards", status_code=202, response_model=BoardOut, responses=errors(409, 410, 429, 503))
def create_board(slug: str, request: Request, user: CurrentUser, session: SessionDep, body: BoardIn | None = None):
    settings = get_settings()
    _limit([("board", str(user.id), BOARD_RATE_PER_USER), ("generate-ip", client_ip(request), settings.generation_rate_per_ip)])
    board_id = boards.request_board(
        session=session, user_id=user.id, slug=slug, count=(body or BoardIn()).count, locale=user.locale
    )
    return BoardOut(id=board_id, status="pending")


@router.get("/boards/{board_id}", response_model=BoardOut)
def get_board(board_id: str, user: CurrentUser):
    status, _ = boards.board_status(board_id=board_id, user_id=user.id)
    if status == "pending":
        return BoardOut(id=board_id, status=status)
    return BoardOut(id=board_id, status=status, png_url=f"/api/boards/{board_id}/board.png",
                    pdf_url=f"/api/boards/{board_id}/board.pdf")


@router.get(
    "/boards/{board_id}/board.{ext}", response_class=FileResponse,
    responses={200: {"description": "The board", "content": {"image/png": {}, "application/pdf": {}}}, **errors(409)},
)
def download_board(board_id: str, ext: str, user: CurrentUser):
    if ext not in ("png", "pdf"):
        raise DomainError("not_found", "No such file.", status=404)
    status, meta = boards.board_status(board_id=board_id, user_id=user.id)
    if status != "done":
        raise DomainError("board_pending", "This board is still being drawn.", status=409)
    return FileResponse(
        board.board_dir(board_id) / f"board.{ext}",
        media_type="image/png" if ext == "png" else "application/pdf",
        # In the board's language: "planche-…" in French, "board-…" in English.
        filename=f"{'planche' if meta.get('locale') == 'fr' else 'board'}-{meta['slug']}-{board_id[:8]}.{ext}",
        headers={"Cache-Control": "private, max-age=86400"},
    )
