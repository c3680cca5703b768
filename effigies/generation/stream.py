"""A generation's state as a text/event-stream: now, then each change the worker publishes;
and the answers that show generations and proposals (generation_out, proposals_out).

The loop lives here, not in the router: it reads the database (in a worker thread, with a
session of its own) and listens on Redis (effigies.generation.events)."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import redis
from anyio import to_thread
from sqlalchemy.orm import Session

from effigies.db import session_scope
from effigies.generation import events, service
from effigies.generation.schemas import CandidateOut, GenerationOut, ProposalOut, ProposalsOut
from effigies.themes import service as themes_service

log = logging.getLogger(__name__)

FINAL_STATUSES = ("done", "failed")
# Proxies drop a silent connection after a minute or so; past EVENTS_MAX_S the browser polls.
EVENTS_HEARTBEAT_S = 15
EVENTS_MAX_S = 60


def generation_out(
    *, session: Session, job_id: uuid.UUID, user_id: uuid.UUID | None = None, visitor: str | None = None,
) -> GenerationOut:
    """The caller's generation: a person's (user_id) or a visitor's (visitor: their cookie's id)."""
    job, slug, candidates = service.get_job(session=session, job_id=job_id, user_id=user_id, visitor=visitor)
    return GenerationOut(
        id=job.id, theme_slug=slug, status=job.status, error=job.error,
        candidates=[candidate_out(c.id, c.expires_at, c.status) for c in candidates],
    )


def proposals_out(
    *, session: Session, user_id: uuid.UUID | None = None, visitor: str | None = None, slug: str | None = None,
) -> ProposalsOut:
    """The person's (or visitor's) proposals still for sale, on one theme (404 if there is no
    such theme) or all."""
    theme_id = themes_service.get_visible_theme(session=session, slug=slug).id if slug is not None else None
    offers = service.list_offers(session=session, user_id=user_id, visitor=visitor, theme_id=theme_id)
    return ProposalsOut(proposals=[
        ProposalOut(**candidate_out(c.id, c.expires_at, c.status).model_dump(), theme_slug=theme_slug,
                    created_at=c.created_at)
        for c, theme_slug in offers
    ])


def candidate_out(candidate_id, expires_at, status: str) -> CandidateOut:
    return CandidateOut(
        id=candidate_id, preview_url=f"/api/candidates/{candidate_id}/preview.webp", expires_at=expires_at, status=status
    )


async def open_stream(
    *, session: Session, job_id: uuid.UUID, user_id: uuid.UUID | None = None, visitor: str | None = None,
) -> AsyncIterator[str]:
    """Subscribe, read the state (also the ownership check: a stranger gets the usual 404
    before any byte is streamed), and return the stream of events."""
    try:
        queue = await events.hub().listen(job_id)  # before the read: no outcome slips between
    except (TimeoutError, redis.RedisError, OSError) as exc:
        log.warning("no event stream for generation %s: %s", job_id, exc)
        queue = None  # the state below, then the end of the stream: the browser polls
    try:
        state = await to_thread.run_sync(_first_state, session, job_id, user_id, visitor)
    except BaseException:
        _forget(job_id, queue)
        raise
    return _job_events(state, user_id, visitor, queue)


def _first_state(session: Session, job_id: uuid.UUID, user_id: uuid.UUID | None, visitor: str | None) -> GenerationOut:
    try:
        return generation_out(session=session, job_id=job_id, user_id=user_id, visitor=visitor)
    finally:
        # The pooled connection goes back now rather than when the stream ends, up to a minute later.
        session.close()


def _read_state(job_id: uuid.UUID, user_id: uuid.UUID | None, visitor: str | None) -> GenerationOut:
    with session_scope() as session:
        return generation_out(session=session, job_id=job_id, user_id=user_id, visitor=visitor)


def _status_event(state: GenerationOut) -> str:
    return f"event: status\ndata: {state.model_dump_json()}\n\n"


def _forget(job_id: uuid.UUID, queue) -> None:
    if queue is not None:
        events.hub().forget(job_id, queue)


async def _job_events(state: GenerationOut, user_id: uuid.UUID | None, visitor: str | None, queue) -> AsyncIterator[str]:
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
                    "candidates": [candidate_out(c["id"], c["expires_at"], c["status"]) for c in outcome["candidates"]],
                })
            else:  # no outcome in the message, or the subscription broke: ask the database
                state = await to_thread.run_sync(_read_state, state.id, user_id, visitor)
            yield _status_event(state)
    finally:
        _forget(state.id, queue)
