from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from effigies.api.deps import AdminUser, CurrentUser, SessionDep
from effigies.api.openapi import errors
from effigies.billing import service, support
from effigies.billing.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    SetupIntentOut,
    SupportWalletOut,
    TopUpIn,
    TopUpOut,
    WalletOut,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["billing"])
# Mounted by the app under /api/admin behind the admin gate.
admin_router = APIRouter(tags=["admin"])


@router.get("/wallet", response_model=WalletOut)
def get_wallet(user: CurrentUser, session: SessionDep):
    view = service.wallet_view(session=session, user_id=user.id)
    session.commit()  # the wallet row, created on first look
    return view


@router.post("/wallet/setup-intents", status_code=201, response_model=SetupIntentOut)
def create_setup_intent(user: CurrentUser):
    return SetupIntentOut(client_secret=service.create_setup_intent(user_id=user.id))


@router.post("/wallet/topups", status_code=201, response_model=TopUpOut)
def create_topup(body: TopUpIn, user: CurrentUser, session: SessionDep):
    topup_id = service.start_topup(user_id=user.id, amount_cents=body.amount_cents, payment_method_id=body.payment_method_id)
    return service.get_topup(session=session, user_id=user.id, topup_id=topup_id)


@router.get("/wallet/topups/{topup_id}", response_model=TopUpOut)
def get_topup(topup_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    return service.get_topup(session=session, user_id=user.id, topup_id=topup_id)


@router.post("/stripe/webhook", responses=errors(400))
async def stripe_webhook(request: Request):
    """Signed by Stripe, not by a browser: exempt from CSRF, verified on the raw body."""
    from starlette.concurrency import run_in_threadpool

    payload = await request.body()
    signature = request.headers.get("stripe-signature")
    outcome = await run_in_threadpool(_apply_webhook, payload, signature)
    return {"received": True, "outcome": outcome}


def _apply_webhook(payload: bytes, signature: str | None) -> str:
    from effigies.db import session_scope

    with session_scope() as session:
        outcome = service.handle_webhook(session=session, payload=payload, signature=signature)
    log.info("stripe webhook: %s", outcome)
    return outcome


@admin_router.get("/wallets/{user_id}", response_model=SupportWalletOut)
def wallet_for_support(user_id: uuid.UUID, session: SessionDep):
    return support.wallet_for_support(session=session, user_id=user_id)


@admin_router.post("/wallets/{user_id}/adjustments", status_code=201, response_model=AdjustmentOut)
def adjust_wallet(
    user_id: uuid.UUID,
    body: AdjustmentIn,
    admin: AdminUser,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
):
    result = support.adjust(
        session=session, user_id=user_id, admin_id=admin.id, amount_cents=body.amount_cents, reason=body.reason,
        idempotency_key=idempotency_key,
    )
    session.commit()
    # A replay answers with the status and body the first request got, read back from the database.
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status, headers=headers)
