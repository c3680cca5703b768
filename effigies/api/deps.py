"""Dependencies shared by every router: the DB session, the current user, the admin gate, and
the visitor id of someone trying a theme without an account."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from effigies.accounts import service as accounts_service
from effigies.api import csrf
from effigies.accounts.models import User
from effigies.db import session_factory
from effigies.errors import DomainError
from effigies.generation import service as generation_service

SESSION_COOKIE = "ee_session"
CSRF_COOKIE = csrf.COOKIE
# A visitor's random id (effigies.generation.service: only its SHA-256 is stored), set by their
# first generation request (effigies.generation.router) and cleared when they sign up or log in.
VISITOR_COOKIE = "ee_visitor"
VISITOR_MAX_AGE_S = 30 * 86400


def get_session() -> Iterator[Session]:
    """Handlers commit explicitly; anything not committed is rolled back here."""
    session = session_factory()()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def optional_user(request: Request, session: SessionDep) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    return accounts_service.user_for_token(session=session, token=token)


# async: no database work, so no hop to a worker thread (each costs ~0.25 ms of CPU, measured).
async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise DomainError("not_authenticated", "Please log in first.", status=401)
    return user


async def require_admin(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role != "admin":
        raise DomainError("forbidden", "This page is for administrators only.", status=403)
    return user


async def visitor_id(request: Request) -> str | None:
    """The visitor id of this browser's cookie, if it holds one of the form we hand out."""
    value = request.cookies.get(VISITOR_COOKIE)
    return value if generation_service.valid_visitor_id(value) else None


CurrentUser = Annotated[User, Depends(current_user)]
VisitorId = Annotated[str | None, Depends(visitor_id)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
AdminUser = Annotated[User, Depends(require_admin)]
