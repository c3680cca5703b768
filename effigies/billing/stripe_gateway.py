"""The one place that talks to Stripe (or localstripe in local mode)."""
from __future__ import annotations

from collections.abc import Iterator
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


def retrieve_payment_intent(payment_intent_id: str) -> dict[str, Any]:
    return client().v1.payment_intents.retrieve(payment_intent_id).to_dict()


def list_payment_intents(*, created_gte: int, page_size: int = 100) -> Iterator[dict[str, Any]]:
    """Every PaymentIntent created at or after `created_gte` (a Unix time), page after page."""
    params: dict[str, Any] = {"limit": page_size, "created": {"gte": created_gte}}
    try:
        page = client().v1.payment_intents.list(params=params)
    except stripe.InvalidRequestError:
        # localstripe lists payment intents but refuses the `created` filter: filter here instead.
        del params["created"]
        page = client().v1.payment_intents.list(params=params)
    for intent in page.auto_paging_iter():
        if intent.created >= created_gte:
            yield intent.to_dict()


def verify_event(*, payload: bytes, signature: str | None) -> Any:
    """Raises stripe.SignatureVerificationError or ValueError on a forged or malformed body."""
    secret = get_settings().stripe_webhook_secret
    if secret is None:
        raise RuntimeError("STRIPE_WEBHOOK_SECRET is not set")
    return stripe.Webhook.construct_event(payload, signature, secret.get_secret_value())
