"""Wallets, top-ups through Stripe, webhooks, goodwill adjustments."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from effigies.billing import stripe_gateway
from effigies.billing.ledger import BillingError, Posting, format_eur, post, system_account, wallet
from effigies.billing.models import LedgerAccount, LedgerEntry, LedgerTransaction, StripeEvent, TopUp
from effigies.billing.schemas import LedgerLine, WalletOut
from effigies.billing.wallet_lines import wallet_lines
from effigies.config import get_settings
from effigies.db import session_scope, utcnow

log = logging.getLogger(__name__)

__all__ = [
    "BillingError", "wallet_view", "start_topup", "handle_webhook", "apply_payment_intent", "adjust", "get_topup",
]

DECLINED = "The card was declined."


def wallet_view(*, session: Session, user_id: uuid.UUID, limit: int = 50) -> WalletOut:
    """Balance, the last `limit` movements, and the last top-ups (a failed one leaves no ledger
    line, yet its owner must be able to read why it failed)."""
    account = wallet(session=session, user_id=user_id)
    topups = session.scalars(
        select(TopUp).where(TopUp.user_id == user_id).order_by(TopUp.created_at.desc()).limit(10)
    ).all()
    view = WalletOut(
        balance_cents=account.balance_cents,
        entries=wallet_lines(session=session, account_id=account.id, limit=limit),
        topups=topups,
    )
    session.commit()  # the wallet row, created on first look
    return view


FAILURE_WINDOW = timedelta(hours=24)


def ensure_card_payments_allowed(*, session: Session, user_id: uuid.UUID) -> None:
    """429 once this account's top-ups failed settings.topup_failures_per_day times in 24 hours,
    until the oldest of those failures is a day old: a person mistyping a card a few times is not
    stopped, a script testing stolen cards is."""
    cap = get_settings().topup_failures_per_day
    since = utcnow() - FAILURE_WINDOW
    failed = list(session.scalars(
        select(TopUp.created_at).where(TopUp.user_id == user_id, TopUp.status == "failed", TopUp.created_at > since)
        .order_by(TopUp.created_at.desc()).limit(cap)
    ))
    if len(failed) >= cap:
        retry_after = max(1, int((failed[-1] + FAILURE_WINDOW - utcnow()).total_seconds()) + 1)
        raise BillingError(
            "topups_paused",
            f"Card payments are paused on this account after {cap} failed attempts in 24 hours. "
            f"Please try again in {retry_after // 3600 + 1} hour(s), or contact us.",
            status=429, headers={"Retry-After": str(retry_after)},
        )


def create_setup_intent(*, user_id: uuid.UUID) -> str:
    """A card form's secret; refused like a top-up while card payments are paused."""
    with session_scope() as session:
        ensure_card_payments_allowed(session=session, user_id=user_id)
    intent = stripe_gateway.create_setup_intent(metadata={"user_id": str(user_id)})
    return intent.client_secret


def get_topup(*, session: Session, user_id: uuid.UUID, topup_id: uuid.UUID) -> TopUp:
    topup = session.get(TopUp, topup_id)
    if topup is None or topup.user_id != user_id:
        raise BillingError("topup_not_found", "No such top-up.", status=404)
    return topup


def start_topup(*, user_id: uuid.UUID, amount_cents: int, payment_method_id: str) -> uuid.UUID:
    """Record the top-up, then charge the card. Two short transactions: a network call to Stripe
    must not hold database locks. The wallet is credited later, by the webhook (or reconcile)."""
    if amount_cents not in get_settings().topup_packs_cents:
        packs = ", ".join(format_eur(p) for p in get_settings().topup_packs_cents)
        raise BillingError("invalid_pack", f"Top-ups come in packs: {packs}.", status=422)
    with session_scope() as session:
        ensure_card_payments_allowed(session=session, user_id=user_id)
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
        with session_scope() as session:
            _mark_failed(
                session=session,
                topup=session.get(TopUp, topup_id, with_for_update=True),
                message=getattr(exc, "user_message", None) or "The card payment could not be made.",
                code=getattr(exc.error, "decline_code", None) or exc.code,
            )
        return topup_id
    with session_scope() as session:
        topup = session.get(TopUp, topup_id, with_for_update=True)
        topup.stripe_payment_intent_id = topup.stripe_payment_intent_id or intent.id
        if _has_failed(intent.to_dict()):
            _mark_failed(session=session, topup=topup, **_failure(intent.to_dict()))
    return topup_id


def _has_failed(intent: dict[str, Any]) -> bool:
    # Stripe has no "failed" status: a failed attempt sends the intent back to
    # requires_payment_method with the reason in last_payment_error.
    return intent["status"] == "canceled" or (
        intent["status"] == "requires_payment_method" and bool(intent.get("last_payment_error"))
    )


def _failure(intent: dict[str, Any]) -> dict[str, str | None]:
    error = intent.get("last_payment_error") or {}
    return {"message": error.get("message") or DECLINED, "code": error.get("decline_code") or error.get("code")}


def _mark_failed(*, session: Session, topup: TopUp, message: str, code: str | None = None) -> bool:
    """Only a pending top-up can fail: money that has arrived is never taken back by a late event."""
    if topup.status != "pending":
        return False
    topup.status = "failed"
    topup.failure_message = message
    topup.failure_code = code
    return True


def _topup_for_intent(*, session: Session, intent: dict[str, Any]) -> TopUp | None:
    """Our top-up row for the intent, locked: every change to one top-up happens one at a time."""
    metadata = intent.get("metadata") or {}
    topup = None
    if metadata.get("topup_id"):
        try:
            topup = session.get(TopUp, uuid.UUID(metadata["topup_id"]), with_for_update=True, populate_existing=True)
        except ValueError:
            topup = None
    if topup is None:
        topup = session.scalar(
            select(TopUp).where(TopUp.stripe_payment_intent_id == intent["id"]).with_for_update()
            .execution_options(populate_existing=True)
        )
    return topup


def apply_payment_intent(*, session: Session, intent: dict[str, Any]) -> str:
    """Bring our top-up in line with what Stripe says of its PaymentIntent: credit a succeeded
    one, fail a failed one. The one path for webhooks and reconciliation; safe to run twice and
    concurrently (the top-up row is locked, the credit's ledger reference is unique).

    Returns: credited, already_credited, marked_failed, unchanged, amount_mismatch, no_owner or unknown."""
    topup = _topup_for_intent(session=session, intent=intent)
    if topup is None:
        log.warning("payment intent %s matches no top-up", intent["id"])
        return "unknown"
    if topup.stripe_payment_intent_id is None:
        topup.stripe_payment_intent_id = intent["id"]
    elif topup.stripe_payment_intent_id != intent["id"]:
        log.error("payment intent %s names top-up %s, which belongs to %s", intent["id"], topup.id, topup.stripe_payment_intent_id)
        return "unknown"
    if intent["status"] == "succeeded":
        return _credit(session=session, topup=topup, intent=intent)
    if _has_failed(intent):
        return "marked_failed" if _mark_failed(session=session, topup=topup, **_failure(intent)) else "unchanged"
    return "unchanged"  # processing, requires_action…: a later event will settle it


def _credit(*, session: Session, topup: TopUp, intent: dict[str, Any]) -> str:
    if intent["amount"] != topup.amount_cents or intent["currency"] != topup.currency:
        log.error("payment intent %s amount/currency differ from top-up %s", intent["id"], topup.id)
        return "amount_mismatch"
    # Succeeded after a failed attempt is possible (another card): the money decides.
    topup.status = "succeeded"
    topup.failure_message = topup.failure_code = None
    if topup.user_id is None:  # the account was deleted before the money arrived
        return "no_owner"
    posted = post(
        session=session,
        kind="topup",
        reference=f"topup:{topup.id}",
        description=f"Top-up {format_eur(topup.amount_cents)} by card",
        postings=[
            Posting(wallet(session=session, user_id=topup.user_id).id, topup.amount_cents),
            Posting(system_account(session=session, kind="stripe_clearing").id, -topup.amount_cents),
        ],
        details={"topup_id": str(topup.id)},
    )
    return "credited" if posted is not None else "already_credited"


def receive_webhook(payload: bytes, signature: str | None) -> str:
    """A webhook request, in a transaction of its own (no browser session behind it)."""
    with session_scope() as session:
        outcome = handle_webhook(session=session, payload=payload, signature=signature)
    log.info("stripe webhook: %s", outcome)
    return outcome


def handle_webhook(*, session: Session, payload: bytes, signature: str | None) -> str:
    """Verify, deduplicate by event id, apply. Returns what happened, for the logs."""
    try:
        event = stripe_gateway.verify_event(payload=payload, signature=signature)
    except (stripe.SignatureVerificationError, ValueError):
        raise BillingError("invalid_signature", "Webhook signature verification failed.", status=400) from None
    if event.type not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return "ignored"
    if session.scalar(select(StripeEvent.id).where(StripeEvent.id == event.id)) is not None:
        return "duplicate"  # before asking Stripe anything: redeliveries are common
    intent = event.data.object.to_dict()
    if event.type == "payment_intent.payment_failed":
        # Events come late and out of order; a failure may concern an attempt that a later one
        # replaced (or that succeeded meanwhile), so act on the intent as it is now. A success
        # needs no such check: a succeeded intent never changes state again. Fetched before any
        # lock is taken; if Stripe is unreachable we answer 500 and Stripe delivers again.
        intent = stripe_gateway.retrieve_payment_intent(intent["id"])
    # Recorded in the same transaction as its effect: a concurrent delivery of the same event
    # waits here for ours, then finds the id taken.
    first = session.execute(
        insert(StripeEvent)
        .values(id=event.id, type=event.type, payload=event.to_dict())
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.id)
    ).scalar_one_or_none()
    if first is None:
        return "duplicate"
    return apply_payment_intent(session=session, intent=intent)


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
        details={"reason": reason, "admin_id": str(admin_id)},
    )
    return tx.id, account.balance_cents


# Read-only helpers for the support desk (effigies.support), which sits above billing.


def balances(*, session: Session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Each user's wallet balance; a user who never opened a wallet is absent (0)."""
    if not user_ids:
        return {}
    rows = session.execute(select(LedgerAccount.user_id, LedgerAccount.balance_cents).where(LedgerAccount.user_id.in_(user_ids)))
    return dict(rows.all())


def history(*, session: Session, user_id: uuid.UUID, lines: int, topups: int) -> tuple[int, list[LedgerLine], list[TopUp]]:
    """(balance, the last `lines` movements, the last `topups` top-ups in every state) of a
    user's wallet, read-only: looking creates no wallet."""
    account = session.scalar(select(LedgerAccount).where(LedgerAccount.user_id == user_id))
    entries = wallet_lines(session=session, account_id=account.id, limit=lines) if account else []
    recent = session.scalars(
        select(TopUp).where(TopUp.user_id == user_id).order_by(TopUp.created_at.desc()).limit(topups)
    ).all()
    return (account.balance_cents if account else 0), entries, list(recent)


def adjustment_admins(*, session: Session, entry_ids: list[int]) -> dict[int, uuid.UUID]:
    """Ledger entry id -> the admin who made that adjustment."""
    if not entry_ids:
        return {}
    rows = session.execute(
        select(LedgerEntry.id, LedgerTransaction.details["admin_id"].astext)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.id.in_(entry_ids))
    ).all()
    return {entry_id: admin for entry_id, value in rows if (admin := _uuid(value)) is not None}


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
