"""Helpers shared by the hostile-input tests: client addresses of their own, row counts."""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from sqlalchemy import text

from tests.conftest import ApiClient, fund

_addresses = itertools.count(1)


def fresh_ip() -> str:
    """A client address no other test uses (100.64.0.0/10, shared address space).

    uvicorn trusts X-Forwarded-For from 127.0.0.1 (proxy_headers), and every per-address budget
    (log-in failures, sign-ups, generations) is keyed by it: hostile bursts and fuzzing must
    never spend 127.0.0.1's budgets, which the rest of the suite logs in and signs up from."""
    n = next(_addresses) + uuid.uuid4().int % 1000 * 1000
    return f"100.{64 + n // 62500 % 64}.{n // 250 % 250}.{n % 250 + 1}"


PASSWORD = "correct-horse-battery"


@dataclass
class Account:
    id: uuid.UUID
    email: str
    role: str
    ip: str
    client: ApiClient  # logged in, speaking from `ip`

    def session(self, stack) -> ApiClient:
        """Another client logged in as this account, with a session of its own (for requests
        that end or replace the session they are sent with)."""
        from effigies.accounts import service as accounts_service
        from effigies.accounts.models import User
        from effigies.db import session_scope

        with session_scope() as session:
            token = accounts_service.open_session(session=session, user=session.get(User, self.id))
        c = ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": self.ip})
        c.cookies.set("ee_session", token)
        return c


def make_account(stack, *, role: str = "user", balance_cents: int = 0, ip: str | None = None) -> Account:
    """A real account (accounts service, as make_user does) whose client speaks from an address of its own."""
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope

    email = f"hostile-{uuid.uuid4().hex[:10]}@players.effigies.fr"
    with session_scope() as session:
        user = accounts_service.signup(session=session, email=email, password=PASSWORD, display_name="Hostile", role=role)
        token = accounts_service.open_session(session=session, user=user)
        user_id = user.id
    if balance_cents:
        fund(user_id, balance_cents)
    ip = ip or fresh_ip()
    c = ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": ip})
    c.cookies.set("ee_session", token)
    return Account(id=user_id, email=email, role=role, ip=ip, client=c)


TABLES = ("users", "auth_sessions", "themes", "generation_jobs", "candidates", "avatars", "topups",
          "ledger_transactions", "ledger_entries")


def row_counts(*tables: str) -> dict[str, int]:
    """Rows per table now, to compare before and after a refused request."""
    from effigies.db import session_scope

    with session_scope() as session:
        return {t: session.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables or TABLES}

