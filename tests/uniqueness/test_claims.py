"""Race-free claims on real PostgreSQL: of many near-duplicates claimed at the same instant, one wins."""
from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import effigies.models  # noqa: F401  (every table: flushes resolve foreign keys)
from effigies.uniqueness.fingerprint import BITS, BYTES, hamming
from effigies.uniqueness.index import lock_keys
from tests.conftest import wait_generation
from tests.training.helpers import wait_for
from tests.uniqueness.test_index import flip

CONNECTIONS = 24


def _engine(size: int):
    return create_engine(os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1),
                         pool_size=size, max_overflow=0)


def _claim_all(values: list[bytes], radius: int, *, hold) -> list[str]:
    """Each value claimed on its own connection, all released together by a barrier. A claim that
    won calls hold(its backend pid, the others' pids) with its transaction still open (its
    advisory locks held, its row registered but not committed), and commits after."""
    from effigies.uniqueness import service

    engine = _engine(len(values))
    barrier = threading.Barrier(len(values))
    pids: list[int | None] = [None] * len(values)

    def one(i: int) -> str:
        with Session(engine) as session:
            pids[i] = session.execute(text("SELECT pg_backend_pid()")).scalar_one()  # connected before the start
            barrier.wait(60)
            try:
                service.claim(session=session, value=values[i], radius=radius)
            except service.UniquenessError:
                session.rollback()
                return "refused"
            service.register(session=session, value=values[i], kind="sold")
            hold(pids[i], [p for j, p in enumerate(pids) if j != i])
            session.commit()
            return "sold"

    try:
        with ThreadPoolExecutor(len(values)) as pool:
            return list(pool.map(one, range(len(values))))
    finally:
        engine.dispose()


class UntilAllOthersWait:
    """The first winner's hold: it commits only once PostgreSQL shows every other claim blocked on
    an advisory lock (pg_locks: not granted), with who blocks whom (pg_blocking_pids), i.e. each
    of them really ran while the winner's transaction was open."""

    def __init__(self) -> None:
        self.engine = _engine(1)
        self.seen: dict[int, list[int]] = {}  # waiting pid -> pids it waited for, when all were seen
        self.winners: list[int] = []

    def _waiting(self, others: list[int]) -> dict[int, list[int]]:
        with self.engine.connect() as conn:
            return {pid: list(blockers) for pid, blockers in conn.execute(text(
                "SELECT l.pid, pg_blocking_pids(l.pid) FROM pg_locks l "
                "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.pid = ANY(:pids)"), {"pids": others})}

    def __call__(self, me: int, others: list[int]) -> None:
        self.winners.append(me)
        if len(self.winners) > 1:
            return  # a later winner came after the first committed: nobody is left to wait
        self.seen = wait_for(lambda: (w := self._waiting(others)) and set(w) == set(others) and w, 120,
                             "every other claim to wait on the winner's locks", interval=0.05)

    def behind(self, me: int) -> set[int]:
        """The pids whose wait leads back to `me`, through other waiting claims."""
        found, grew = set(), True
        while grew:
            grew = False
            for pid, blockers in self.seen.items():
                if pid not in found and (me in blockers or found & set(blockers)):
                    found.add(pid)
                    grew = True
        return found


def test_of_24_near_duplicates_claimed_at_once_exactly_one_is_sold(stack):
    from effigies.db import session_scope
    from effigies.uniqueness import service

    radius = 20
    rng = random.Random(7)
    base = rng.randbytes(BYTES)
    # Each 0-10 bits from the base, so every pair is within 20 bits of each other.
    values = [flip(base, rng.sample(range(BITS), rng.randint(0, radius // 2))) for _ in range(CONNECTIONS)]
    assert all(hamming(a, b) <= radius for a in values for b in values)

    hold = UntilAllOthersWait()
    try:
        results = _claim_all(values, radius, hold=hold)
    finally:
        hold.engine.dispose()
    assert results.count("sold") == 1 and results.count("refused") == CONNECTIONS - 1
    # The 23 others were all seen waiting while the winner's transaction was open, each behind it.
    [winner] = hold.winners
    assert len(hold.seen) == CONNECTIONS - 1 and hold.behind(winner) == set(hold.seen)
    with session_scope() as session:
        found = service.find_near(session=session, value=base, radius=radius, limit=100)
        assert len(found) == 1 and found[0][0].fingerprint in values


def test_24_different_images_claimed_at_once_are_all_sold(stack):
    rng = random.Random(8)
    # Far apart, and (as nearly all pairs of random fingerprints) sharing no advisory-lock key.
    values: list[bytes] = []
    while len(values) < CONNECTIONS:
        value = rng.randbytes(BYTES)
        if all(hamming(value, v) > 20 and not set(lock_keys(value, 20)) & set(lock_keys(v, 20)) for v in values):
            values.append(value)
    # Every claim holds its transaction open until all 24 are there: they really overlap, and
    # none waits for another (else the barrier, which a waiting claim never reaches, breaks).
    together = threading.Barrier(CONNECTIONS)
    assert _claim_all(values, 20, hold=lambda me, others: together.wait(120)) == ["sold"] * CONNECTIONS


def test_two_different_images_sharing_a_lock_key_wait_for_each_other_and_are_both_sold(stack):
    """A lock-key collision of two far-apart images (rare: ~1 pair in 200) only makes one wait."""
    rng = random.Random(9)
    first = rng.randbytes(BYTES)
    second = next(v for v in iter(lambda: rng.randbytes(BYTES), None)
                  if set(lock_keys(v, 20)) & set(lock_keys(first, 20)) and hamming(v, first) > 20)
    hold = UntilAllOthersWait()
    try:
        assert _claim_all([first, second], 20, hold=hold) == ["sold", "sold"]
    finally:
        hold.engine.dispose()
    # The first to lock held its transaction open until the other was seen waiting behind it.
    winner = hold.winners[0]
    assert len(hold.seen) == 1 and hold.behind(winner) == set(hold.seen)


def test_twenty_people_buying_the_same_image_at_once_one_owns_it(make_user, stack):
    """Through the API: 20 accounts hold the same image (same seed) and press buy together."""
    from effigies.db import session_scope
    from effigies.generation import jobs as generation_jobs
    from effigies.generation import service as generation_service

    from tests.avatars.test_purchase import _state

    users = [make_user(balance_cents=100) for _ in range(20)]
    with session_scope() as session:
        jobs = [generation_service.create_job(session=session, user_id=uid, slug="pixel-heroes", count=1) for _, uid in users]
        for job in jobs[1:]:
            job.seed = jobs[0].seed
        job_ids = [j.id for j in jobs]
    for job_id in job_ids:
        assert generation_jobs.run_job(job_id=job_id) == "done"
    candidate_ids = [wait_generation(c, str(job_id))["candidates"][0]["id"] for (c, _), job_id in zip(users, job_ids)]

    barrier = threading.Barrier(len(users))

    def buy(pair):
        (client, _), candidate_id = pair
        barrier.wait()
        return client.post(f"/api/candidates/{candidate_id}/purchase", json={"withdrawal_waiver": True})

    with ThreadPoolExecutor(len(users)) as pool:
        results = list(pool.map(buy, zip(users, candidate_ids)))
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 19, [r.text for r in results if r.status_code not in (201, 409)]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {"near_duplicate_sold"}
    assert sorted(_state(uid)[:2] for _, uid in users) == [(90, 1)] + [(100, 0)] * 19
