from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import redis
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, StreamingResponse
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from effigies.api.deps import CurrentUser, SessionDep
from effigies.api.openapi import content, errors
from effigies.api.ratelimit import client_ip, hits
from effigies.config import get_settings
from effigies.db import session_scope
from effigies.errors import DomainError
from effigies.generation import board, events, service
from effigies.generation.schemas import BoardIn, BoardOut, CandidateOut, GenerationCreated, GenerationIn, GenerationOut

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["generation"])

# Per person, and per address too, so that a handful of accounts can't flood the worker queue.
GENERATION_WINDOW_S = 60  # per-user and per-IP limits: settings.generation_rate_per_user / _per_ip

FINAL_STATUSES = ("done", "failed")
# Proxies drop a silent connection after a minute or so; past EVENTS_MAX_S the browser polls.
EVENTS_HEARTBEAT_S = 15
EVENTS_MAX_S = 60


def _limit(limits: list[tuple[str, str, int]]) -> None:
    """The rate limits live in the Redis that holds the queue: if it is down, so is the queue."""
    try:
        hits(limits, window_s=GENERATION_WINDOW_S)
    except redis.RedisError as exc:
        log.error("generation refused, Redis unavailable: %s", exc)
        raise DomainError("queue_unavailable", "Generation is briefly unavailable. Please try again in a moment.",
                          status=503) from exc


@router.post(
    "/themes/{slug}/generations", status_code=202, response_model=GenerationCreated, responses=errors(409, 410, 429)
)
def create_generation(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, body: GenerationIn | None = None
):
    from effigies.generation.tasks import generate_candidates

    settings = get_settings()
    _limit([("generate", str(user.id), settings.generation_rate_per_user),
            ("generate-ip", client_ip(request), settings.generation_rate_per_ip)])
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
    return _generation_out(session=session, job_id=job_id, user_id=user.id)


@router.get("/generations/{job_id}/events", response_class=StreamingResponse, responses=content("text/event-stream"))
async def generation_events(job_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    """text/event-stream: the job's state now, then its final state when the worker says so."""
    user_id = user.id
    try:
        queue = await events.hub().listen(job_id)  # before the read: no outcome slips between
    except (TimeoutError, redis.RedisError, OSError) as exc:
        log.warning("no event stream for generation %s: %s", job_id, exc)
        queue = None  # the state below, then the end of the stream: the browser polls
    try:
        # Also the ownership check, before streaming: a stranger gets the usual 404 JSON error.
        state = await run_in_threadpool(_first_state, session, job_id, user_id)
    except BaseException:
        _forget(job_id, queue)
        raise
    return StreamingResponse(
        _job_events(state, user_id, queue),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _generation_out(*, session: Session, job_id: uuid.UUID, user_id: uuid.UUID) -> GenerationOut:
    job, slug, candidates = service.get_job(session=session, job_id=job_id, user_id=user_id)
    return GenerationOut(
        id=job.id, theme_slug=slug, status=job.status, error=job.error,
        candidates=[_candidate_out(c.id, c.expires_at, c.status) for c in candidates],
    )


def _candidate_out(candidate_id, expires_at, status: str) -> CandidateOut:
    return CandidateOut(
        id=candidate_id, preview_url=f"/api/candidates/{candidate_id}/preview.webp", expires_at=expires_at, status=status
    )


def _first_state(session: Session, job_id: uuid.UUID, user_id: uuid.UUID) -> GenerationOut:
    try:
        return _generation_out(session=session, job_id=job_id, user_id=user_id)
    finally:
        # The pooled connection goes back now rather than when the stream ends, up to a minute later.
        session.close()


def _read_state(job_id: uuid.UUID, user_id: uuid.UUID) -> GenerationOut:
    with session_scope() as session:
        return _generation_out(session=session, job_id=job_id, user_id=user_id)


def _status_event(state: GenerationOut) -> str:
    return f"event: status\ndata: {state.model_dump_json()}\n\n"


def _forget(job_id: uuid.UUID, queue) -> None:
    if queue is not None:
        events.hub().forget(job_id, queue)


async def _job_events(state: GenerationOut, user_id: uuid.UUID, queue) -> AsyncIterator[str]:
    try:
        yield _status_event(state)
        deadline = time.monotonic() + EVENTS_MAX_S
        while queue is not None and state.status not in FINAL_STATUSES and (left := deadline - time.monotonic()) > 0:
            try:
                outcome = await asyncio.wait_for(queue.get(), min(EVENTS_HEARTBEAT_S, left))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if "status" in outcome:
                state = state.model_copy(update={
                    "status": outcome["status"], "error": outcome["error"],
                    "candidates": [_candidate_out(c["id"], c["expires_at"], c["status"]) for c in outcome["candidates"]],
                })
            else:  # no outcome in the message, or the subscription broke: ask the database
                state = await run_in_threadpool(_read_state, state.id, user_id)
            yield _status_event(state)
    finally:
        _forget(state.id, queue)


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


@router.post("/themes/{slug}/boards", status_code=202, response_model=BoardOut, responses=errors(409, 410, 429))
def create_board(slug: str, request: Request, user: CurrentUser, session: SessionDep, body: BoardIn | None = None):
    from effigies.generation.tasks import make_board

    settings = get_settings()
    _limit([("board", str(user.id), BOARD_RATE_PER_USER), ("generate-ip", client_ip(request), settings.generation_rate_per_ip)])
    board_id = service.request_board(
        session=session, user_id=user.id, slug=slug, count=(body or BoardIn()).count, locale=user.locale
    )
    try:
        make_board.apply_async(args=[board_id], retry=False)
    except (BrokerError, OSError):
        log.exception("could not queue board %s", board_id)
        raise DomainError("queue_unavailable", "Generation is briefly unavailable. Please try again in a moment.", status=503)
    return BoardOut(id=board_id, status="pending")


@router.get("/boards/{board_id}", response_model=BoardOut)
def get_board(board_id: str, user: CurrentUser):
    status, _ = service.board_status(board_id=board_id, user_id=user.id)
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
    status, meta = service.board_status(board_id=board_id, user_id=user.id)
    if status != "done":
        raise DomainError("board_pending", "This board is still being drawn.", status=409)
    return FileResponse(
        board.board_dir(board_id) / f"board.{ext}",
        media_type="image/png" if ext == "png" else "application/pdf",
        filename=f"planche-{meta['slug']}-{board_id[:8]}.{ext}",
        headers={"Cache-Control": "private, max-age=86400"},
    )
