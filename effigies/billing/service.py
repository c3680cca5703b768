"""Wallets, top-ups through Stripe, webhooks, goodwill adjustments."""
from __future__ import annotations

import logging
import uuid
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from effigies.billing import stripe_gateway
from effigies.billing.ledger import BillingError, Posting, post, system_account, wallet
from effigies.billing.models import LedgerEntry, LedgerTransaction, StripeEvent, TopUp
from effigies.config import get_settings
from effigies.db import session_scope

log = logging.getLogger(__name__)

__all__ = ["BillingError", "wallet_view", "start_topup", "handle_webhook", "adjust", "get_topup"]


def wallet_view(*, session: Session, user_id: uuid.UUID, limit: int = 50) -> tuple[int, list[dict[str, Any]]]:
    account = wallet(session=session, user_id=user_id)
    rows = session.execute(
        select(LedgerEntry, LedgerTransaction)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.account_id == account.id)
        .order_by(LedgerEntry.id.desc())
        .limit(limit)
    ).all()
    lines = [
        {
            "id": entry.id,
            "created_at": entry.created_at,
            "amount_cents": entry.amount_cents,
            "kind": tx.kind,
            "description": tx.description,
        }
        for entry, tx in rows
    ]
    return account.balance_cents, lines


def create_setup_intent(*, user_id: uuid.UUID) -> str:
    intent = stripe_gateway.create_setup_intent(metadata={"user_id": str(user_id)})
    return intent.client_secret


def get_topup(*, session: Session, user_id: uuid.UUID, topup_id: uuid.UUID) -> TopUp:
    topup = session.get(TopUp, topup_id)
    if topup is None or topup.user_id != user_id:
        raise BillingError("topup_not_found", "No such top-up.", status=404)
    return topup


def start_topup(*, user_id: uuid.UUID, amount_cents: int, payment_method_id: str) -> uuid.UUID:
    """Record the top-up, then charge the card. Two short transactions: a network call to Stripe
    must not hold database locks. The wallet is credited later, by the webhook only."""
    if amount_cents not in get_settings().topup_packs_cents:
        packs = ", ".join(f"€{p / 100:.2f}" for p in get_settings().topup_packs_cents)
        raise BillingError("invalid_pack", f"Top-ups come in packs: {packs}.", status=422)
    with session_scope() as session:
        topup = TopUp(user_id=user_id, amount_cents=amount_cents, currency="eur")
        session.add(topup)
        session.flush()
        topup_id = topup.id
    try:
        intent = stripe_gateway.create_confirmed_payment_intent(
            amount_cents=amount_cents,
            currency="eur",
            payment_method_id=payment_method_id,
            metadata={"topup_id": str(topup_id), "user_id": str(user_id)},
            # Derived from our row: a retried request can never charge twice.
            idempotency_key=f"topup-{topup_id}",
        )
    except stripe.StripeError as exc:
        message = getattr(exc, "user_message", None) or "The card payment could not be made."
        with session_scope() as session:
            _mark_failed(session=session, topup=session.get(TopUp, topup_id, with_for_update=True), message=message)
        return topup_id
    with session_scope() as session:
        topup = session.get(TopUp, topup_id, with_for_update=True)
        topup.stripe_payment_intent_id = intent.id
        if intent.status in ("canceled", "requires_payment_method") and topup.status == "pending":
            error = getattr(intent, "last_payment_error", None)
            _mark_failed(session=session, topup=topup, message=getattr(error, "message", None) or "The card was declined.")
    return topup_id


def _mark_failed(*, session: Session, topup: TopUp, message: str) -> None:
    if topup.status == "pending":
        topup.status = "failed"
        topup.failure_message = message


def _topup_for_intent(*, session: Session, intent: Any) -> TopUp | None:
    metadata = intent.get("metadata") or {}
    topup = None
    if metadata.get("topup_id"):
        try:
            topup = session.get(TopUp, uuid.UUID(metadata["topup_id"]), with_for_update=True)
        except ValueError:
            topup = None
    if topup is None:
        topup = session.scalar(select(TopUp).where(TopUp.stripe_payment_intent_id == intent["id"]).with_for_update())
    return topup


def credit_succeeded_intent(*, session: Session, intent: Any) -> bool:
    """Credit the wallet for a succeeded PaymentIntent; True only the first time."""
    topup = _topup_for_intent(session=session, intent=intent)
    if topup is None:
        log.warning("payment intent %s matches no top-up", intent["id"])
        return False
    if intent["amount"] != topup.amount_cents or intent["currency"] != topup.currency:
        log.error("payment intent %s amount/currency differ from top-up %s", intent["id"], topup.id)
        return False
    topup.stripe_payment_intent_id = topup.stripe_payment_intent_id or intent["id"]
    posted = post(
        session=session,
        kind="topup",
        reference=f"topup:{topup.id}",
        description=f"Top-up €{topup.amount_cents / 100:.2f} by card",
        postings=[
            Posting(wallet(session=session, user_id=topup.user_id).id, topup.amount_cents),
            Posting(system_account(session=session, kind="stripe_clearing").id, -topup.amount_cents),
        ],
    ) if topup.user_id else None
    topup.status = "succeeded"
    topup.failure_message = None
    return posted is not None


def handle_webhook(*, session: Session, payload: bytes, signature: str | None) -> str:
    """Verify, deduplicate by event id, apply. Returns what happened, for the logs."""
    try:
        event = stripe_gateway.verify_event(payload=payload, signature=signature)
    except (stripe.SignatureVerificationError, ValueError):
        raise BillingError("invalid_signature", "Webhook signature verification failed.", status=400) from None
    first = session.execute(
        insert(StripeEvent)
        .values(id=event.id, type=event.type, payload=event.to_dict())
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.id)
    ).scalar_one_or_none()
    if first is None:
        return "duplicate"
    intent = event.data.object.to_dict()  # plain dicts from here on
    if event.type == "payment_intent.succeeded":
        return "credited" if credit_succeeded_intent(session=session, intent=intent) else "already_credited"
    if event.type == "payment_intent.payment_failed":
        topup = _topup_for_intent(session=session, intent=intent)
        if topup is not None:
            error = intent.get("last_payment_error") or {}
            _mark_failed(session=session, topup=topup, message=error.get("message") or "The card was declined.")
        return "failed"
    return "ignored"


def adjust(*, session: Session, user_id: uuid.UUID, amount_cents: int, reason: str, admin_id: uuid.UUID) -> tuple[uuid.UUID, int]:
    """A goodwill credit (or correction) by an admin, recorded with its reason."""
    if amount_cents == 0:
        raise BillingError("invalid_amount", "An adjustment must not be zero.", status=422)
    account = wallet(session=session, user_id=user_id)
    tx = post(
        session=session,
        kind="adjustment",
        reference=f"adjustment:{uuid.uuid4()}",
        description=f"Goodwill adjustment: {reason} (admin {admin_id})",
        postings=[
            Posting(account.id, amount_cents),
            Posting(system_account(session=session, kind="goodwill").id, -amount_cents),
        ],
    )
    return tx.id, account.balance_cents
