"""Talking to localstripe and to our webhook the way Stripe does, for the billing tests."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def _register(stack, url: str, events: list[str] | None) -> None:
    """Point localstripe's one webhook endpoint (ours is named "effigies") at `url`."""
    base = stack.env["STRIPE_API_BASE"].rstrip("/")
    body = {"url": url, "secret": stack.env["STRIPE_WEBHOOK_SECRET"], "events": events}
    httpx.post(f"{base}/_config/webhooks/effigies", json=body, timeout=5).raise_for_status()


class WebhookSink:
    """A webhook endpoint of the test's own: it records every event localstripe sends it and
    answers 500, which localstripe logs and never retries, i.e. the event is lost for the app."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._changed:
                    sink.events.append(json.loads(body))
                    sink._changed.notify_all()
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="webhook-sink")
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/lost-webhooks"

    def received(self) -> set[tuple[str, str]]:
        """(event type, PaymentIntent id) of every event that reached the sink."""
        with self._changed:
            return {(e["type"], e["data"]["object"]["id"]) for e in self.events}

    def wait_until(self, predicate, timeout: float, what: str) -> None:
        """Until predicate() holds, re-checked on every event that arrives (and every second,
        for conditions that also read localstripe)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; the sink got {self.received()}")
            with self._changed:
                self._changed.wait(min(left, 1.0))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def _intents() -> dict[str, dict[str, Any]]:
    """Every PaymentIntent localstripe holds, by id."""
    page = stripe_client().v1.payment_intents.list(params={"limit": 100})
    return {i.id: i.to_dict() for i in page.auto_paging_iter()}


def _events_due(before: set[str]) -> set[tuple[str, str]] | None:
    """The events localstripe owes for PaymentIntents made since `before` was listed: one
    payment_intent.succeeded per success, one payment_intent.payment_failed per decline; None
    while one of them is still processing (its event is not even scheduled yet)."""
    due = set()
    for intent_id, intent in _intents().items():
        if intent_id in before:
            continue
        if intent["status"] == "processing":
            return None
        if intent["status"] == "succeeded":
            due.add(("payment_intent.succeeded", intent_id))
        elif intent.get("last_payment_error"):
            due.add(("payment_intent.payment_failed", intent_id))
    return due


@contextlib.contextmanager
def webhooks_lost(stack, timeout: float = 60) -> Iterator[WebhookSink]:
    """Every webhook localstripe sends about a payment made inside this block is lost.

    localstripe sends an event about a second after it happens, to whichever endpoint is
    registered *then*, and never retries. So inside the block our endpoint points to a
    WebhookSink (which answers 500), and on leaving we wait until the sink has received the event
    of every PaymentIntent that succeeded or failed inside the block, however long localstripe
    takes; only then is the app's endpoint registered again. No event of the block can reach the
    app afterwards, and the yielded sink lets a test check what was lost."""
    from effigies.embedded.localstripe import WEBHOOK_EVENTS

    before = set(_intents())
    sink = WebhookSink()
    try:
        _register(stack, sink.url, WEBHOOK_EVENTS)
        yield sink

        def all_lost() -> bool:
            due = _events_due(before)
            return due is not None and due <= sink.received()

        sink.wait_until(all_lost, timeout, "localstripe's webhooks of the block to reach the sink")
    finally:
        _register(stack, stack.url + "/api/stripe/webhook", WEBHOOK_EVENTS)
        sink.close()


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
