"""`effigies billing reconcile`: make the ledger agree with Stripe when webhooks went missing.

Stripe is the record of what was paid. Every PaymentIntent of the last N days goes through the
same path as the webhook (`service.apply_payment_intent`), so running this while webhooks
arrive, or twice, credits nothing twice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from effigies.billing import service, stripe_gateway
from effigies.billing.ledger import format_eur
from effigies.billing.models import TopUp
from effigies.db import session_scope, utcnow

# What each outcome of apply_payment_intent means to the person reading the report.
ACTIONS = {
    "credited": "credited (its webhook never arrived)",
    "marked_failed": "top-up marked failed",
    "already_credited": "ok",
    "unchanged": "ok",
    "amount_mismatch": "NOT credited: amount differs from the top-up, check by hand",
    "unknown": "unknown metadata: no top-up of ours",
    "no_owner": "paid, but the account is deleted: refund by hand",
    "no_payment_intent": "pending, but Stripe has no PaymentIntent for it",
}
FIXED = ("credited", "marked_failed")
TO_LOOK_AT = ("unknown", "no_owner", "amount_mismatch", "no_payment_intent")
# A top-up younger than this may still be talking to Stripe: not worth reporting yet.
PENDING_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Finding:
    payment_intent_id: str | None
    created_at: datetime
    amount_cents: int
    currency: str
    stripe_status: str
    topup_id: str | None
    outcome: str


def reconcile(*, days: int, page_size: int = 100) -> list[Finding]:
    since = int(time.time()) - days * 86_400
    findings: list[Finding] = []
    for intent in stripe_gateway.list_payment_intents(created_gte=since, page_size=page_size):
        # One short transaction per intent: the next page is a network call, never made holding locks.
        with session_scope() as session:
            outcome = service.apply_payment_intent(session=session, intent=intent)
        findings.append(
            Finding(
                payment_intent_id=intent["id"],
                created_at=datetime.fromtimestamp(intent["created"], timezone.utc),
                amount_cents=intent["amount"],
                currency=intent["currency"],
                stripe_status=intent["status"],
                topup_id=(intent.get("metadata") or {}).get("topup_id"),
                outcome=outcome,
            )
        )
    seen = {f.payment_intent_id for f in findings} | {f.topup_id for f in findings if f.topup_id}
    with session_scope() as session:
        stuck = session.scalars(
            select(TopUp).where(
                TopUp.status == "pending",
                TopUp.created_at >= datetime.fromtimestamp(since, timezone.utc),
                TopUp.created_at < utcnow() - PENDING_GRACE,
            )
        ).all()
        findings += [
            Finding(None, t.created_at, t.amount_cents, t.currency, "-", str(t.id), "no_payment_intent")
            for t in stuck
            if str(t.id) not in seen and t.stripe_payment_intent_id not in seen
        ]
    return findings


def print_report(findings: list[Finding], *, days: int, console: Console) -> None:
    table = Table(title=f"Stripe PaymentIntents of the last {days} day{'s' if days > 1 else ''}")
    for column in ("PaymentIntent", "Created (UTC)", "Amount", "Stripe status", "Top-up", "Action"):
        table.add_column(column, justify="right" if column == "Amount" else "left")
    for f in findings:
        style = "green" if f.outcome in FIXED else "red" if f.outcome in TO_LOOK_AT else None
        table.add_row(
            f.payment_intent_id or "-",
            f.created_at.strftime("%Y-%m-%d %H:%M"),
            format_eur(f.amount_cents) if f.currency == "eur" else f"{f.amount_cents} {f.currency}",
            f.stripe_status,
            f.topup_id or "-",
            ACTIONS.get(f.outcome, f.outcome),
            style=style,
        )
    console.print(table)
    count = {outcome: sum(f.outcome == outcome for f in findings) for outcome in ACTIONS}
    console.print(
        f"{sum(f.payment_intent_id is not None for f in findings)} payment intents checked: "
        f"{count['credited']} credited, {count['marked_failed']} marked failed, "
        f"{sum(count[o] for o in TO_LOOK_AT)} to look at."
    )


def reconcile_command(days: int) -> int:
    console = Console()
    if days < 1:
        console.print("error: --days must be at least 1")
        return 2
    if not console.is_terminal:  # piped or logged: whole ids beat fitting 80 columns
        console.width = 200
    print_report(reconcile(days=days), days=days, console=console)
    return 0
