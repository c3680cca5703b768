"""`Idempotency-Key`: the same key from the same user gets the same response, the work done once.

The key row is inserted first, in the caller's transaction, and filled with the response at the
end of that same transaction. A second request with the key (a retry, a double click, a race)
blocks on the row's primary key until the first commits, then replays its response; if the first
rolled back (an error: nothing was done), the second takes the key and does the work itself.
Errors are therefore not replayed: they changed nothing, so trying again is the same as the
first time, except that it may now succeed (a 402, then a top-up).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from effigies.billing.ledger import BillingError
from effigies.billing.models import IdempotencyKey

# Printable ASCII without spaces: UUIDs, ULIDs, base64url… and nothing that could surprise a log.
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


def claim(*, session: Session, user_id: uuid.UUID, key: str, request: str) -> Replay | None:
    """Take `key` for `request` (None: go ahead), or return the response it already holds."""
    if not _KEY.match(key):
        raise BillingError(
            "invalid_idempotency_key",
            "The Idempotency-Key header must be 1 to 255 visible ASCII characters, such as a UUID.",
            status=422,
        )
    taken = session.execute(
        insert(IdempotencyKey)
        .values(user_id=user_id, key=key, request=request)
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.key)
    ).scalar_one_or_none()
    if taken is not None:
        return None
    # The holder has committed (ON CONFLICT waited for it): this statement sees its row.
    row = session.execute(
        select(IdempotencyKey.request, IdempotencyKey.response_status, IdempotencyKey.response_body).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
        )
    ).one()
    if row.request != request:
        raise BillingError(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request (another candidate). "
            "Send a new key with each new purchase.",
            status=422,
        )
    if row.response_status is None:  # only if a caller committed without record(): a bug, said plainly
        raise BillingError("idempotency_key_in_use", "This request is still being processed; try again.", status=409)
    return Replay(status=row.response_status, body=row.response_body)


def record(*, session: Session, user_id: uuid.UUID, key: str, status: int, body: dict[str, Any]) -> None:
    """Store the response for `key`, claimed earlier in this same transaction."""
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(response_status=status, response_body=body)
    )
