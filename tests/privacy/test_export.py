"""GET /api/me/export: the person's data, all of it and only theirs."""
from __future__ import annotations

import json

from tests.conftest import wait_generation


def _buy_one_keep_one(client) -> tuple[str, str]:
    job = client.post("/api/themes/arcane-sigils/generations", json={"count": 2})
    done = wait_generation(client, job.json()["id"])
    bought, kept = (c["id"] for c in done["candidates"])
    purchase = client.post(f"/api/candidates/{bought}/purchase", json={"withdrawal_waiver": True})
    assert purchase.status_code == 201, purchase.text
    return purchase.json()["avatar"]["public_id"], kept


def test_the_export_holds_exactly_the_persons_own_data(make_user, client):
    alice, alice_id = make_user(balance_cents=100)
    bob, _ = make_user(balance_cents=200)
    alice_avatar, alice_kept = _buy_one_keep_one(alice)
    bob_avatar, bob_kept = _buy_one_keep_one(bob)

    response = alice.get("/api/me/export")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="effigies-data-')
    assert response.headers["cache-control"] == "no-store"
    data = json.loads(response.content)
    me = alice.get("/api/me").json()
    assert data["format"] == "effigies-export/1"
    assert data["account"]["id"] == str(alice_id) and data["account"]["email"] == me["email"]
    assert [a["public_id"] for a in data["avatars"]] == [alice_avatar]
    assert data["avatars"][0]["theme_slug"] == "arcane-sigils" and data["avatars"][0]["price_cents"] == 10
    assert [p["id"] for p in data["proposals"]] == [alice_kept]
    assert data["avatar_email_links"] == []  # her address is not verified: nothing linked (tests/avatars/test_gravatar.py)
    assert data["wallet"]["balance_cents"] == 90
    assert sorted(m["amount_cents"] for m in data["wallet"]["movements"]) == [-10, 100]
    # The consent given at purchase (immediate delivery, no withdrawal) is part of her record.
    sale = next(m for m in data["wallet"]["movements"] if m["kind"] == "purchase")
    assert sale["withdrawal_waiver"]["wording"] and sale["withdrawal_waiver"]["at"]
    assert len(data["sessions"]) == 1 and set(data["sessions"][0]) == {"created_at", "last_seen_at", "expires_at"}
    # Nothing of Bob's, and no secret of Alice's.
    text = response.text
    for foreign in (bob_avatar, bob_kept, bob.get("/api/me").json()["email"]):
        assert foreign not in text
    for secret in ("argon2", alice.cookies["ee_session"], "fingerprint", "password"):
        assert secret not in text
    assert client.get("/api/me/export").status_code == 401
