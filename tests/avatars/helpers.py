"""Candidates to buy and the state a purchase changes, for the purchase tests."""
from __future__ import annotations

from tests.conftest import wait_generation


def candidates(user, count=2, slug="galactic-droids"):
    job = user.post(f"/api/themes/{slug}/generations", json={"count": count}).json()
    body = wait_generation(user, job["id"])
    assert body["status"] == "done", body
    assert len(body["candidates"]) == count, body
    return body["candidates"]


def state(user_id):
    """(wallet balance, avatars owned, registry size)."""
    from sqlalchemy import func, select

    from effigies.avatars.models import Avatar
    from effigies.billing.ledger import wallet
    from effigies.db import session_scope
    from effigies.uniqueness.models import RegistryEntry

    with session_scope() as session:
        return (
            wallet(session=session, user_id=user_id).balance_cents,
            session.scalar(select(func.count()).select_from(Avatar).where(Avatar.owner_id == user_id)),
            session.scalar(select(func.count()).select_from(RegistryEntry)),
        )


def assert_ledger_balanced():
    """Double entry holds: every transaction sums to zero, every account's balance is the sum of
    its entries, and so all balances together sum to zero."""
    from sqlalchemy import text

    from effigies.db import session_scope

    with session_scope() as session:
        unbalanced = session.execute(text(
            "SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING sum(amount_cents) <> 0"
        )).all()
        drifted = session.execute(text(
            "SELECT a.id FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id "
            "GROUP BY a.id HAVING a.balance_cents <> coalesce(sum(e.amount_cents), 0)"
        )).all()
        total = session.scalar(text("SELECT coalesce(sum(balance_cents), 0) FROM ledger_accounts"))
    assert (unbalanced, drifted, total) == ([], [], 0)


def purchase_count(candidate_id) -> tuple[int, int]:
    """(avatars made from the candidate, ledger transactions charging for it)."""
    from sqlalchemy import func, select

    from effigies.avatars.models import Avatar
    from effigies.billing.models import LedgerTransaction
    from effigies.db import session_scope

    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(Avatar).where(Avatar.candidate_id == candidate_id)),
            session.scalar(
                select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.reference == f"purchase:{candidate_id}")
            ),
        )


def buy(stack, slug: str) -> str:
    """An avatar of theme ``slug`` bought through the API by a new account; its public id."""
    import uuid

    import httpx

    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope
    from tests.conftest import fund

    with session_scope() as session:
        user = accounts_service.signup(session=session, email=f"public-{uuid.uuid4().hex[:10]}@players.effigies.fr",
                                       password="correct-horse-battery", display_name="Public")
        token, user_id = accounts_service.open_session(session=session, user=user), user.id
    fund(user_id, 100)
    with httpx.Client(base_url=stack.url, timeout=30, cookies={"ee_session": token}) as user:
        user.get("/api/config")
        user.headers["X-CSRF-Token"] = user.cookies["csrftoken"]
        job = user.post(f"/api/themes/{slug}/generations", json={"count": 1})
        assert job.status_code in (201, 202), job.text
        body = wait_generation(user, job.json()["id"])
        assert body["status"] == "done", body
        bought = user.post(f"/api/candidates/{body['candidates'][0]['id']}/purchase", json={"withdrawal_waiver": True})
        assert bought.status_code == 201, bought.text
        return bought.json()["avatar"]["public_id"]


def stored_image(public_id: str):
    """The avatar's stored 64 px file as a PIL image: RGB, or RGBA for a transparent theme."""
    from PIL import Image
    from sqlalchemy import select

    from effigies.avatars.models import Avatar
    from effigies.config import get_settings
    from effigies.db import session_scope

    with session_scope() as session:
        path = session.scalar(select(Avatar.image_path).where(Avatar.public_id == public_id))
    with Image.open(get_settings().images_dir / path) as image:
        image.load()
        return image.copy()


def avatar_files(public_id: str) -> set[str]:
    """The names of the avatar's derived files on disk (master and kept variants)."""
    from effigies.config import get_settings

    folder = get_settings().images_dir / "avatars" / public_id
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def verify_address(client) -> str:
    """Confirms the account's address with the link e-mailed to it (as a person would); the address."""
    import re
    import time

    email = client.get("/api/me").json()["email"]
    assert client.post("/api/me/email/verification", json={}).status_code == 202
    deadline = time.monotonic() + 10
    while not (messages := client.get("/api/mail/outbox", params={"to": email}).json()["messages"]):
        assert time.monotonic() < deadline, "no verification mail"
        time.sleep(0.1)
    token = re.compile(r"https?://\S+/#/email/verify\?token=([A-Za-z0-9_-]+)").search(messages[0]["text"]).group(1)
    assert client.post("/api/auth/email/verify", json={"token": token}).status_code == 200
    return email


def buy_owned(client, count: int = 1) -> list[str]:
    """`count` avatars bought by this (funded) client through the API: their public ids."""
    ids = []
    for candidate in candidates(client, count=count, slug="arcane-sigils"):
        bought = client.post(f"/api/candidates/{candidate['id']}/purchase", json={"withdrawal_waiver": True})
        assert bought.status_code == 201, bought.text
        ids.append(bought.json()["avatar"]["public_id"])
    return ids
