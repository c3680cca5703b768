"""Admin routes for accounts (support). Mounted by the app under /api/admin, behind the admin gate."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from effigies.accounts import support
from effigies.accounts.admin_schemas import UserSearchOut, UserSummaryOut
from effigies.api.deps import SessionDep

router = APIRouter(tags=["admin"])


@router.get("/users", response_model=UserSearchOut)
def search_users(
    session: SessionDep,
    q: Annotated[str, Query(min_length=2, max_length=254)],
    limit: Annotated[int, Query(ge=1, le=support.MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=support.MAX_OFFSET)] = 0,
):
    page = support.search_users(session=session, q=q, limit=limit, offset=offset)
    return UserSearchOut(
        items=[UserSummaryOut.model_validate(u) for u in page.items], limit=limit, offset=offset, has_more=page.has_more
    )
