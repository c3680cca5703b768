from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from effigies.api.deps import CurrentUser, SessionDep
from effigies.api.openapi import errors
from effigies.billing import service
from effigies.billing.schemas import SetupIntentOut, TopUpIn, TopUpOut, WalletOut

router = APIRouter(prefix="/api", tags=["billing"])


@router.get("/wallet", response_model=WalletOut)
def get_wallet(user: CurrentUser, session: SessionDep):
    return service.wallet_view(session=session, user_id=user.id)


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
    outcome = await run_in_threadpool(service.receive_webhook, payload, signature)
    return {"received": True, "outcome": outcome}
