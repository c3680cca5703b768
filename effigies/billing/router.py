from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from effigies.api.deps import CurrentUser, SessionDep
from effigies.api.openapi import errors
from effigies.api.ratelimit import client_ip, hits
from effigies.billing import service
from effigies.config import get_settings
from effigies.billing.schemas import SetupIntentOut, TopUpIn, TopUpOut, WalletOut

router = APIRouter(prefix="/api", tags=["billing"])
CARD_WINDOW_S = 3600  # settings.card_attempts_per_user / _per_ip card forms and top-ups in each


def _card_attempt(request: Request, user_id: uuid.UUID) -> None:
    """Every card form opened and every top-up tried counts, per account and per address."""
    settings = get_settings()
    hits([("card", str(user_id), settings.card_attempts_per_user),
          ("card-ip", client_ip(request), settings.card_attempts_per_ip)], window_s=CARD_WINDOW_S)


@router.get("/wallet", response_model=WalletOut)
def get_wallet(user: CurrentUser, session: SessionDep):
    return service.wallet_view(session=session, user_id=user.id)


@router.post("/wallet/setup-intents", status_code=201, response_model=SetupIntentOut, responses=errors(429))
def create_setup_intent(request: Request, user: CurrentUser):
    _card_attempt(request, user.id)
    return SetupIntentOut(client_secret=service.create_setup_intent(user_id=user.id))


@router.post("/wallet/topups", status_code=201, response_model=TopUpOut, responses=errors(429))
def create_topup(body: TopUpIn, request: Request, user: CurrentUser, session: SessionDep):
    _card_attempt(request, user.id)
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
