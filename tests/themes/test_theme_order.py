"""The catalogue's order: the shipped themes most appealing first, then whatever order an admin sets."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, select

from effigies.db import session_scope
from effigies.themes.models import Theme

SHIPPED_ORDER = ["pixel-heroes", "galactic-droids", "emoji-folk", "arcane-sigils"]
ORDER_URL = "/api/admin/themes/order"


def _admin_order(admin) -> list[str]:
    response = admin.get("/api/admin/themes")
    assert response.status_code == 200, response.text
    return [t["slug"] for t in response.json()]


def _positions() -> dict[str, int]:
    with session_scope() as session:
        return dict(session.execute(select(Theme.slug, Theme.position)).all())


def _statuses() -> dict[str, str]:
    with session_scope() as session:
        return dict(session.execute(select(Theme.slug, Theme.status)).all())


@pytest.fixture
def restore_order(admin):
    """Whatever a test does to the order, the next one finds it as it was."""
    before = _admin_order(admin)
    yield before
    response = admin.put(ORDER_URL, json={"slugs": [s for s in before if s in _positions()]})
    assert response.status_code == 200, response.text


def test_the_shipped_themes_come_most_appealing_first(client):
    listed = [t["slug"] for t in client.get("/api/themes").json()]
    assert listed[:4] == SHIPPED_ORDER
    # Seeded at 1-4: any theme made later goes after them.
    positions = _positions()
    assert [positions[slug] for slug in SHIPPED_ORDER] == [1, 2, 3, 4]


def test_an_admin_reorders_and_the_catalogue_follows(admin, client, restore_order):
    order = restore_order[::-1]
    response = admin.put(ORDER_URL, json={"slugs": order})
    assert response.status_code == 200, response.text
    assert [t["slug"] for t in response.json()] == order
    assert response.json()[0]["sales"] >= 0  # the admin table's rows, as GET /api/admin/themes has them
    assert _admin_order(admin) == order
    public = [t["slug"] for t in client.get("/api/themes").json()]
    published = {slug for slug, status in _statuses().items() if status == "published"}
    assert public == [s for s in order if s in published]
    assert [_positions()[s] for s in order] == list(range(1, len(order) + 1))


def test_a_new_theme_goes_after_the_others(admin, restore_order):
    slug = f"order-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        session.add(Theme(slug=slug, name="Aaa first by name", status="draft"))
    try:
        assert _admin_order(admin) == [*restore_order, slug]
        assert _positions()[slug] == max(_positions().values())
    finally:
        with session_scope() as session:
            session.execute(delete(Theme).where(Theme.slug == slug))


BAD_ORDERS = {
    "unknown": (lambda order: [*order, "no-such-theme"], "unknown_theme", "no-such-theme"),
    "missing": (lambda order: order[1:], "missing_theme", None),
    "duplicate": (lambda order: [*order, order[0]], "duplicate_theme", None),
    "empty": (lambda order: [], "missing_theme", None),
}


@pytest.mark.parametrize("case", BAD_ORDERS, ids=list(BAD_ORDERS))
def test_an_order_that_does_not_name_every_theme_once_is_refused(case, admin, restore_order):
    make, code, named = BAD_ORDERS[case]
    # Reversed, so that a partial write would show.
    order = restore_order[::-1]
    before = _positions()
    response = admin.put(ORDER_URL, json={"slugs": make(order)})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert repr(named or order[0]) in error["message"]
    assert _positions() == before
    assert _admin_order(admin) == restore_order


@pytest.mark.parametrize("body", [{"slugs": "pixel-heroes"}, {"order": SHIPPED_ORDER}, {"slugs": SHIPPED_ORDER, "x": 1},
                                  {"slugs": ["x" * 65]}])
def test_a_malformed_body_is_refused(body, admin):
    before = _positions()
    response = admin.put(ORDER_URL, json=body)
    assert response.status_code == 422, response.text
    assert set(response.json()["error"]) >= {"code", "message"}
    assert _positions() == before


def test_only_an_admin_may_reorder(admin, make_user, client):
    order = _admin_order(admin)[::-1]
    before = _positions()
    user, _ = make_user()
    assert user.put(ORDER_URL, json={"slugs": order}).status_code == 403
    assert client.put(ORDER_URL, json={"slugs": order}).status_code == 401
    # An admin's cookie without the CSRF header (a forged cross-site request) is refused too.
    forged = admin.put(ORDER_URL, json={"slugs": order}, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    assert forged.json()["error"]["code"]
    assert _positions() == before
