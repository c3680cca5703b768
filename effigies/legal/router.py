"""GET /api/legal (the pages and their titles, for the footer) and GET /api/legal/{page}."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Query

from effigies.api.openapi import errors
from effigies.legal import service
from effigies.legal.schemas import LegalPageOut, LegalPagesOut

router = APIRouter(prefix="/api/legal", tags=["legal"])

Locale = Literal["fr", "en"]


@router.get("", response_model=LegalPagesOut)
def list_legal_pages(locale: Locale = Query("fr")):
    return service.list_pages(locale)


@router.get("/{page}", response_model=LegalPageOut, responses=errors(404))
def read_legal_page(page: str = Path(max_length=40), locale: Locale = Query("fr")):
    """Terms of sale, withdrawal, privacy, legal notice or contact, as text blocks to draw."""
    return service.render(page, locale)
