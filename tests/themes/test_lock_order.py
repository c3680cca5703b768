"""Retire, un-retire and publish released together with purchases of the theme's offers: every
request ends in a defined answer, never 503 (the 2026-12 hostile test found 7 of 8 retire +
purchase pairs deadlocked: the purchase held the offer and waited for the theme, the retire the
other way round)."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import select

from effigies.avatars.models import Avatar
from effigies.db import session_scope
from effigies.generation.models import Candidate
from tests.conftest import wait_generation
from tests.themes.archives import build_zip, good_entries
from tests.themes.test_admin_themes import FIELDS, _add_version

ROUNDS = 8


def _together(calls):
    """Send every call at the same instant (a barrier), return the responses in order."""
    start = threading.Barrier(len(calls))

    def send(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(send, calls))


def _when_an_offer_is_locked(conn, purchases_done: threading.Event, then):
    """Call `then` as soon as a purchase holds its offer's row lock (a backend holds a row-share
    lock on candidates: only a purchase's SELECT ... FOR UPDATE takes one), the moment at which
    the old order deadlocked with a retire. On a loaded machine both purchases may commit between
    two looks: then `then` runs after them (still a defined outcome) and the caller is told.
    `conn` is opened before the barrier, so the watch starts with the purchases."""
    while not purchases_done.is_set():
        held = conn.execute(
            "SELECT 1 FROM pg_locks WHERE relation = 'candidates'::regclass AND mode = 'RowShareLock' "
            "AND granted AND pid <> pg_backend_pid() LIMIT 1").fetchone()
        if held:
            return True, then()
    return False, then()


@pytest.fixture
def watcher(stack):
    """A connection of its own that looks at pg_locks (closed even when the test fails)."""
    with psycopg.connect(stack.env["DATABASE_URL"].replace("+psycopg", ""), autocommit=True) as conn:
        yield conn


def test_retire_unretire_and_publish_race_purchases_without_deadlock(admin, make_user, stack, watcher):
    slug = f"test-{uuid.uuid4().hex[:8]}"
    archive = build_zip(good_entries())
    created = admin.post("/api/admin/themes", data={**FIELDS, "slug": slug},
                         files={"archive": ("set.zip", archive, "application/zip")})
    assert created.status_code == 201, created.text
    version = _add_version(slug, "package:pretrained/pixel-heroes")
    assert admin.post(f"/api/admin/themes/{slug}/publish", json={"model_version_id": version}).status_code == 200
    buyer, _ = make_user(balance_cents=10 * 2 * ROUNDS)
    waiver = {"withdrawal_waiver": True}
    seen: dict[str, list[int]] = {"purchase": [], "retire": [], "unretire": [], "publish": []}
    offered: list[str] = []
    caught_rounds: list[bool] = []  # rounds whose retire came while a purchase held its offer
    bought: set[str] = set()  # offers some purchase answered 201 for (a second one answers 201 again, charged once)

    def record(name, response):
        seen[name].append(response.status_code)
        if name == "purchase" and response.status_code == 201:
            bought.add(response.url.path.split("/")[3])  # /api/candidates/{id}/purchase

    for round_ in range(ROUNDS):
        job = buyer.post(f"/api/themes/{slug}/generations", json={"count": 2})
        assert job.status_code == 202, job.text
        ids = [c["id"] for c in wait_generation(buyer, job.json()["id"])["candidates"]]
        offered += ids
        buys = [lambda cid=cid: ("purchase", buyer.post(f"/api/candidates/{cid}/purchase", json=waiver)) for cid in ids]
        retire = lambda: ("retire", admin.post(f"/api/admin/themes/{slug}/retire"))  # noqa: E731
        publish = lambda: ("publish", admin.post(f"/api/admin/themes/{slug}/publish", json={"model_version_id": version}))  # noqa: E731
        if round_ % 4 == 0:  # all at once
            calls = [*buys, retire]
        elif round_ % 4 == 1:  # a republish of the same version, then a retire, beside the purchases
            calls = [buys[0], publish, buys[-1], retire]
        else:  # the retire (and a republish) sent once a purchase holds its offer
            admin_side = [retire] if round_ % 4 == 2 else [publish, retire]
            done, left = threading.Event(), [len(buys)]
            lock = threading.Lock()

            def counted(buy):
                try:
                    return buy()
                finally:
                    with lock:
                        left[0] -= 1
                        if not left[0]:
                            done.set()

            def watch_then_admin():
                caught, answers_ = _when_an_offer_is_locked(watcher, done, lambda: [call() for call in admin_side])
                caught_rounds.append(caught)
                return "admin", answers_

            calls = [*[lambda buy=buy: counted(buy) for buy in buys], watch_then_admin]
        answers = []
        for name, response in _together(calls):
            answers += response if name == "admin" else [(name, response)]
        for name, response in answers:
            assert response.status_code < 500, f"{name}: {response.status_code} {response.text}"
            record(name, response)
        # Retired now (or published again, when the publish came second); un-retiring it races a
        # purchase of one of its offers, which the retire ended unless it was bought first.
        late = ids[0]
        for name, response in _together([
            lambda: ("unretire", admin.post(f"/api/admin/themes/{slug}/unretire")),
            lambda: ("purchase", buyer.post(f"/api/candidates/{late}/purchase", json=waiver)),
        ]):
            assert response.status_code < 500, f"{name}: {response.status_code} {response.text}"
            if response.status_code == 409:
                assert round_ % 2 == 1 and response.json()["error"]["code"] == "theme_not_retired", response.text
                continue
            record(name, response)

    # The interleaving that deadlocked did happen (in one of the 4 watched rounds at least).
    assert any(caught_rounds), caught_rounds
    # Only defined outcomes: bought (or already the buyer's), or ended by the retire.
    assert set(seen["purchase"]) <= {200, 201, 410}, seen
    assert set(seen["retire"]) == {200} and set(seen["unretire"]) == {200} and set(seen["publish"]) == {200}, seen
    assert 201 in seen["purchase"] and 410 in seen["purchase"], seen  # both orders happened
    # And the rows agree with the answers: a sold offer has its avatar, an ended one none.
    with session_scope() as session:
        rows = session.execute(select(Candidate.id, Candidate.status).where(
            Candidate.id.in_([uuid.UUID(i) for i in offered]))).all()
        sold = {cid for cid, status in rows if status == "sold"}
        assert {status for _, status in rows} <= {"sold", "expired"}
        avatars = set(session.scalars(select(Avatar.candidate_id).where(Avatar.candidate_id.in_([r[0] for r in rows]))))
    assert avatars == sold and {str(c) for c in sold} == bought
