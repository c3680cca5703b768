from __future__ import annotations

import logging
import uuid

import redis
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from effigies.api.deps import (
    VISITOR_COOKIE, VISITOR_MAX_AGE_S, CurrentUser, OptionalUser, SessionDep, VisitorId,
)
from effigies.api.openapi import content, errors
from effigies.api.ratelimit import client_ip, hits, spend
from effigies.config import get_settings
from effigies.errors import DomainError
from effigies.generation import board, boards, jobs, service, showcase, stream
from effigies.generation.schemas import (
    BoardIn, BoardOut, GenerationCreated, GenerationIn, GenerationOut, ProposalsOut, ShowcaseOut, ShowcaseTheme,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["generation"])

# Per person, and per address too, so that a handful of accounts can't flood the worker queue.
# A visitor (no account) is held to settings.generation_rate_per_visitor per visitor id and per
# address: a browser that drops its cookie gets a new id, not a new budget.
GENERATION_WINDOW_S = 60  # per-user and per-IP limits: settings.generation_rate_per_user / _per_ip


def _limit(limits: list[tuple[str, str, int]], images: list[tuple[str, str, int]] = (), cost: int = 0) -> None:
    """Requests first (each job or board has a fixed cost), then `cost` images from each image
    budget (settings.generation_images_per_*): what the workers spend. Both live in the Redis that
    holds the queue: if it is down, so is the queue."""
    try:
        hits(limits, window_s=GENERATION_WINDOW_S)
        if images:
            spend(images, cost=cost, window_s=GENERATION_WINDOW_S, what="images asked for")
    except redis.RedisError as exc:
        log.error("generation refused, Redis unavailable: %s", exc)
        raise DomainError("queue_unavailable", service.QUEUE_UNAVAILABLE, status=503) from exc


def _image_budgets(user, ip: str) -> list[tuple[str, str, int]]:
    """A person's images per minute and their address's; jobs and boards draw from both."""
    settings = get_settings()
    return [("images", str(user.id), settings.generation_images_per_user),
            ("images-ip", ip, settings.generation_images_per_ip)]


def _owner(user, visitor: str | None) -> dict:
    """Whose jobs and candidates a request may see: the person's when logged in, else the
    visitor's (an unknown id, or none, owns nothing: a 404, never someone else's rows)."""
    return {"user_id": user.id} if user is not None else {"visitor": visitor}


@router.post(
    "/themes/{slug}/generations", status_code=202, response_model=GenerationCreated, responses=errors(409, 410, 429, 503)
)
def create_generation(
    slug: str, request: Request, response: Response, user: OptionalUser, visitor: VisitorId, session: SessionDep,
    body: GenerationIn | None = None,
):
    """A person's, or a visitor's: try first, sign up to buy. A visitor's first request gets
    their id, in an HttpOnly cookie, sent again by each one: it lasts 30 days from the last."""
    settings = get_settings()
    ip = client_ip(request)
    count = (body or GenerationIn()).count
    if user is not None:
        _limit([("generate", str(user.id), settings.generation_rate_per_user),
                ("generate-ip", ip, settings.generation_rate_per_ip)], _image_budgets(user, ip), count)
    else:
        visitor = visitor or service.new_visitor_id()
        _limit([("generate-visitor", visitor, settings.generation_rate_per_visitor),
                ("generate-visitor-ip", ip, settings.generation_rate_per_visitor),
                ("generate-ip", ip, settings.generation_rate_per_ip)],
               [("images-visitor", visitor, settings.generation_images_per_visitor),
                ("images-visitor-ip", ip, settings.generation_images_per_visitor),
                ("images-ip", ip, settings.generation_images_per_ip)], count)
        response.set_cookie(VISITOR_COOKIE, visitor, max_age=VISITOR_MAX_AGE_S, httponly=True, samesite="lax",
                            secure=settings.cookie_secure, path="/")
    job_id = service.submit_job(session=session, slug=slug, count=count, **_owner(user, visitor))
    return GenerationCreated(id=job_id)


@router.get("/themes/{slug}/proposals", response_model=ProposalsOut, responses=errors(404))
def theme_proposals(slug: str, user: OptionalUser, visitor: VisitorId, session: SessionDep):
    """The person's (or visitor's) proposals on this theme still for sale, newest first: what a
    reload shows."""
    return stream.proposals_out(session=session, slug=slug, **_owner(user, visitor))


@router.get("/me/proposals", response_model=ProposalsOut)
def my_proposals(user: CurrentUser, session: SessionDep):
    """Every theme's, newest first (the account page's "My proposals")."""
    return stream.proposals_out(session=session, user_id=user.id)


@router.get("/generations/{job_id}", response_model=GenerationOut)
def get_generation(job_id: uuid.UUID, user: OptionalUser, visitor: VisitorId, session: SessionDep):
    return stream.generation_out(session=session, job_id=job_id, **_owner(user, visitor))


@router.get("/generations/{job_id}/events", response_class=StreamingResponse, responses=content("text/event-stream"))
async def generation_events(job_id: uuid.UUID, user: OptionalUser, visitor: VisitorId, session: SessionDep):
    """text/event-stream: the job's state now, then its final state when the worker says so."""
    return StreamingResponse(
        await stream.open_stream(session=session, job_id=job_id, **_owner(user, visitor)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/candidates/{candidate_id}/preview.webp", response_class=FileResponse,
    responses={**content("image/webp"), **errors(410)},
)
def candidate_preview(candidate_id: uuid.UUID, user: OptionalUser, visitor: VisitorId, session: SessionDep):
    candidate = service.candidate_for_user(session=session, candidate_id=candidate_id, **_owner(user, visitor))
    service.ensure_offered(candidate)
    return FileResponse(
        jobs.candidate_preview_path(session=session, candidate=candidate),
        media_type="image/webp",
        headers={"Cache-Control": "private, max-age=1800"},
    )


@router.get("/showcase", response_model=ShowcaseOut)
def get_showcase(session: SessionDep):
    """The home page's large fresh avatars: a few per published theme, redrawn every hour."""
    body = ShowcaseOut(themes=[
        ShowcaseTheme(slug=theme.slug, name=theme.name, name_fr=theme.name_fr, pixel_art=theme.pixel_art,
                      images=[f"/api/showcase/{theme.slug}/{name}" for name in shown.files])
        for theme, shown in showcase.current(session=session)
    ])
    return JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-cache"})


@router.get("/showcase/{slug}/{name}", response_class=FileResponse, responses={**content("image/webp"), **errors(404)})
def showcase_image(slug: str, name: str):
    path = showcase.image_path(slug, name)
    if path is None:
        raise service.GenerationError("showcase_image_not_found", "No such showcase image: the home page draws new ones every hour.", status=404)
    # A set's file names are new each time it is drawn: the bytes behind one never change.
    return FileResponse(path, media_type="image/webp", headers={"Cache-Control": "public, max-age=86400, immutable"})


# A board is 16 or 64 samples: fewer per minute than generations, and its images come out of the
# same image budgets as the person's jobs (a board of 64 is 64 images, as eight jobs of 8).
BOARD_RATE_PER_USER = 10


@router.post("/themes/{slug}/boards", status_code=202, response_model=BoardOut, responses=errors(409, 410, 429, 503))
def create_board(slug: str, request: Request, user: CurrentUser, session: SessionDep, body: BoardIn | None = None):
    settings = get_settings()
    ip, count = client_ip(request), (body or BoardIn()).count
    _limit([("board", str(user.id), BOARD_RATE_PER_USER), ("generate-ip", ip, settings.generation_rate_per_ip)],
           _image_budgets(user, ip), count)
    board_id = boards.request_board(session=session, user_id=user.id, slug=slug, count=count, locale=user.locale)
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
