"""GET /api/mail/outbox: the local mail sink's messages (local mode only; 404 elsewhere)."""
from __future__ import annotations

from fastapi import APIRouter, Query

from effigies.api.openapi import errors
from effigies.mail import outbox
from effigies.mail.schemas import OutboxOut

router = APIRouter(prefix="/api/mail", tags=["mail"])


@router.get("/outbox", response_model=OutboxOut, responses=errors(404))
def list_outbox(to: str | None = Query(None, max_length=254)):
    return OutboxOut(messages=outbox.messages(to=to))
