"""Talking to localstripe and to our webhook the way Stripe does, for the billing tests."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx


def sign(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, as Stripe computes it (HMAC-SHA256 of "timestamp.payload")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(intent: dict[str, Any], type_: str = "payment_intent.succeeded", event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": type_,
            "created": int(time.time()),
            "data": {"object": intent},
        }
    ).encode()


def deliver(client: httpx.Client, payload: bytes, secret: str, **sign_kwargs: Any) -> httpx.Response:
    return client.post(
        "/api/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": sign(payload, secret, **sign_kwargs), "Content-Type": "application/json"},
    )


def stripe_client():
    from effigies.billing import stripe_gateway

    return stripe_gateway.client()


def payment_method(number: str) -> str:
    pm = stripe_client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return pm.id


def wait_topup(user: httpx.Client, topup_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = user.get(f"/api/wallet/topups/{topup_id}").json()
        if body["status"] != "pending":
            return body
        time.sleep(0.2)
    raise AssertionError("top-up still pending")


def _register(stack, events: list[str] | None) -> None:
    base = stack.env["STRIPE_API_BASE"].rstrip("/")
    body = {"url": stack.url + "/api/stripe/webhook", "secret": stack.env["STRIPE_WEBHOOK_SECRET"], "events": events}
    httpx.post(f"{base}/_config/webhooks/effigies", json=body, timeout=5).raise_for_status()


@contextlib.contextmanager
def webhooks_lost(stack) -> Iterator[None]:
    """localstripe sends nothing to us inside this block: a webhook lost on the way."""
    from effigies.embedded.localstripe import WEBHOOK_EVENTS

    _register(stack, [])
    try:
        yield
        # localstripe sends each event a second after it happens, to whoever is registered then.
        time.sleep(1.5)
    finally:
        _register(stack, WEBHOOK_EVENTS)


def topup_row(topup_id) -> Any:
    from effigies.billing.models import TopUp
    from effigies.db import session_scope

    with session_scope() as session:
        return session.get(TopUp, uuid.UUID(str(topup_id)))


def topup_credits(topup_id) -> list[int]:
    """The amounts of every ledger entry posted for this top-up (both sides)."""
    from sqlalchemy import select

    from effigies.billing.models import LedgerEntry, LedgerTransaction
    from effigies.db import session_scope

    with session_scope() as session:
        return sorted(
            session.scalars(
                select(LedgerEntry.amount_cents)
                .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
                .where(LedgerTransaction.reference == f"topup:{topup_id}")
            ).all()
        )


def declined_intent_for(topup_id, user_id, amount_cents: int) -> str:
    """A PaymentIntent for our top-up whose card is declined at charge time; returns its id."""
    import stripe

    intent = stripe_client().v1.payment_intents.create(
        params={
            "amount": amount_cents, "currency": "eur", "payment_method": payment_method("4000000000000341"),
            "payment_method_types": ["card"], "metadata": {"topup_id": str(topup_id), "user_id": str(user_id)},
        }
    )
    try:
        stripe_client().v1.payment_intents.confirm(intent.id)
    except stripe.CardError:
        pass
    else:
        raise AssertionError("the card should have been declined")
    return intent.id


def pending_topup(user_id, amount_cents: int = 100, payment_intent_id: str | None = None) -> uuid.UUID:
    from effigies.billing.models import TopUp
    from effigies.db import session_scope

    with session_scope() as session:
        topup = TopUp(user_id=user_id, amount_cents=amount_cents, stripe_payment_intent_id=payment_intent_id)
        session.add(topup)
        session.flush()
        return topup.id
