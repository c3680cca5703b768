"""Admin routes of the support desk. Mounted by the app under /api/admin, behind the admin gate."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from effigies.api.deps import AdminUser, SessionDep
from effigies.billing.schemas import AdjustmentIn, AdjustmentOut
from effigies.support import service
from effigies.support.schemas import SupportWalletOut, UserSearchOut

router = APIRouter(tags=["admin"])


@router.get("/users", response_model=UserSearchOut)
def search_users(
    session: SessionDep,
    q: Annotated[str, Query(min_length=2, max_length=254)],
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=service.MAX_OFFSET)] = 0,
):
    page = service.search_users(session=session, q=q, limit=limit, offset=offset)
    return UserSearchOut(items=page.items, limit=limit, offset=offset, has_more=page.has_more)


@router.get("/wallets/{user_id}", response_model=SupportWalletOut)
def wallet_for_support(user_id: uuid.UUID, session: SessionDep):
    return service.wallet_for_support(session=session, user_id=user_id)


@router.post("/wallets/{user_id}/adjustments", status_code=201, response_model=AdjustmentOut)
def adjust_wallet(
    user_id: uuid.UUID,
    body: AdjustmentIn,
    admin: AdminUser,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
):
    result = service.adjust(
        session=session, user_id=user_id, admin_id=admin.id, amount_cents=body.amount_cents, reason=body.reason,
        idempotency_key=idempotency_key,
    )
    # A replay answers with the status and body the first request got, read back from the database.
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status, headers=headers)
