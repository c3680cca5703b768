"""The one place that talks to Stripe (or localstripe in local mode)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import stripe

from effigies.config import get_settings


@lru_cache
def client() -> stripe.StripeClient:
    settings = get_settings()
    if settings.stripe_secret_key is None:
        raise RuntimeError("STRIPE_SECRET_KEY is not set: run `effigies up`, or set it")
    base = settings.stripe_api_base
    return stripe.StripeClient(
        settings.stripe_secret_key.get_secret_value(),
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )


def stripe_js_url() -> str:
    base = get_settings().stripe_api_base
    return f"{base.rstrip('/')}/js.stripe.com/v3/" if base else "https://js.stripe.com/v3/"


def create_setup_intent(*, metadata: dict[str, str]) -> Any:
    return client().v1.setup_intents.create(params={"usage": "on_session", "metadata": metadata})


def create_confirmed_payment_intent(
    *, amount_cents: int, currency: str, payment_method_id: str, metadata: dict[str, str], idempotency_key: str
) -> Any:
    return client().v1.payment_intents.create(
        params={
            "amount": amount_cents,
            "currency": currency,
            "payment_method": payment_method_id,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": metadata,
        },
        options={"idempotency_key": idempotency_key},
    )


def retrieve_payment_intent(payment_intent_id: str) -> Any:
    return client().v1.payment_intents.retrieve(payment_intent_id)


def verify_event(*, payload: bytes, signature: str | None) -> Any:
    """Raises stripe.SignatureVerificationError or ValueError on a forged or malformed body."""
    secret = get_settings().stripe_webhook_secret
    if secret is None:
        raise RuntimeError("STRIPE_WEBHOOK_SECRET is not set")
    return stripe.Webhook.construct_event(payload, signature, secret.get_secret_value())
