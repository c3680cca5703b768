"""Finding people for support: by a piece of their e-mail address or by their exact id (the
support desk, effigies.support, adds their balance and avatars)."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, or_, select
from sqlalchemy.orm import Session

from effigies.accounts.models import AccountAddress, User
from effigies.errors import DomainError

MAX_LIMIT = 50
# Deep pages of a substring search are never what support wants: refine the query instead.
MAX_OFFSET = 1_000
# NUL cannot reach PostgreSQL at all (psycopg refuses it), and no address holds a control character.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SupportError(DomainError):
    pass


@dataclass(frozen=True)
class Account:
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    created_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class SearchPage:
    items: list[Account]
    has_more: bool


def clean_query(q: str) -> str:
    q = q.strip()
    if not 2 <= len(q) <= 254:
        raise SupportError("invalid_query", "Type 2 to 254 characters of an e-mail address, or a user id.", status=422)
    if _CONTROL.search(q):
        raise SupportError("invalid_query", "The search must not contain control characters.", status=422)
    return q


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _accounts(*, session: Session, where, order_by=(), limit: int | None = None, offset: int = 0) -> list[Account]:
    stmt = (
        select(User.id, User.email, User.display_name, User.role, User.created_at, User.deleted_at)
        .where(where)
        .order_by(*order_by, User.email, User.id)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [Account(**row._mapping) for row in session.execute(stmt)]


def search_users(*, session: Session, q: str, limit: int = 20, offset: int = 0) -> SearchPage:
    """Users whose e-mail (or one of whose extra addresses, effigies.accounts.addresses) contains
    `q` (case-insensitively), or whose id is `q`. The exact id comes first, then addresses that
    start with `q`, then the rest by address."""
    q = clean_query(q)
    if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= MAX_OFFSET:
        raise SupportError("invalid_page", f"limit must be 1 to {MAX_LIMIT}, offset 0 to {MAX_OFFSET}.", status=422)
    needle = _like_escape(q)
    matches = [User.email.ilike(f"%{needle}%", escape="\\"),
               User.id.in_(select(AccountAddress.user_id).where(AccountAddress.email.ilike(f"%{needle}%", escape="\\")))]
    order = [case((User.email.ilike(f"{needle}%", escape="\\"), 0), else_=1)]
    try:
        user_id = uuid.UUID(q)
    except ValueError:
        user_id = None
    if user_id is not None:
        matches.append(User.id == user_id)
        order.insert(0, case((User.id == user_id, 0), else_=1))
    rows = _accounts(session=session, where=or_(*matches), order_by=order, limit=limit + 1, offset=offset)
    return SearchPage(items=rows[:limit], has_more=len(rows) > limit)


def account(*, session: Session, user_id: uuid.UUID) -> Account:
    rows = _accounts(session=session, where=User.id == user_id)
    if not rows:
        raise SupportError("user_not_found", "No such user.", status=404)
    return rows[0]


def emails(*, session: Session, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The address of each of these users (deleted accounts: their placeholder address)."""
    if not user_ids:
        return {}
    return dict(session.execute(select(User.id, User.email).where(User.id.in_(user_ids))).all())
