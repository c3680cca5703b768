"""Race-free claims on real PostgreSQL: of many near-duplicates claimed at the same instant, one wins."""
from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import effigies.models  # noqa: F401  (every table: flushes resolve foreign keys)
from effigies.uniqueness.fingerprint import BITS, BYTES, hamming
from tests.conftest import wait_generation
from tests.uniqueness.test_index import flip

CONNECTIONS = 24


def _claim_all(values: list[bytes], radius: int) -> list[str]:
    """Each value claimed on its own connection, all released together by a barrier; a winner
    holds its transaction open 50 ms so the others really overlap it."""
    from effigies.uniqueness import service

    engine = create_engine(os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1),
                           pool_size=CONNECTIONS, max_overflow=0)
    barrier = threading.Barrier(len(values))

    def one(value: bytes) -> str:
        with Session(engine) as session:
            session.connection()  # connected before the start line
            barrier.wait()
            try:
                service.claim(session=session, value=value, radius=radius)
            except service.UniquenessError:
                session.rollback()
                return "refused"
            service.register(session=session, value=value, kind="sold")
            time.sleep(0.05)
            session.commit()
            return "sold"

    try:
        with ThreadPoolExecutor(len(values)) as pool:
            return list(pool.map(one, values))
    finally:
        engine.dispose()


def test_of_24_near_duplicates_claimed_at_once_exactly_one_is_sold(stack):
    from effigies.db import session_scope
    from effigies.uniqueness import service

    radius = 20
    rng = random.Random(7)
    base = rng.randbytes(BYTES)
    # Each 0-10 bits from the base, so every pair is within 20 bits of each other.
    values = [flip(base, rng.sample(range(BITS), rng.randint(0, radius // 2))) for _ in range(CONNECTIONS)]
    assert all(hamming(a, b) <= radius for a in values for b in values)

    results = _claim_all(values, radius)
    assert results.count("sold") == 1 and results.count("refused") == CONNECTIONS - 1
    with session_scope() as session:
        found = service.find_near(session=session, value=base, radius=radius, limit=100)
        assert len(found) == 1 and found[0][0].fingerprint in values


def test_24_different_images_claimed_at_once_are_all_sold(stack):
    rng = random.Random(8)
    values = [rng.randbytes(BYTES) for _ in range(CONNECTIONS)]
    assert min(hamming(a, b) for i, a in enumerate(values) for b in values[i + 1:]) > 20
    assert _claim_all(values, 20) == ["sold"] * CONNECTIONS


def test_twenty_people_buying_the_same_image_at_once_one_owns_it(make_user, stack):
    """Through the API: 20 accounts hold the same image (same seed) and press buy together."""
    from effigies.db import session_scope
    from effigies.generation import service as generation_service

    from tests.avatars.test_purchase import _state

    users = [make_user(balance_cents=100) for _ in range(20)]
    with session_scope() as session:
        jobs = [generation_service.create_job(session=session, user_id=uid, slug="pixel-heroes", count=1) for _, uid in users]
        for job in jobs[1:]:
            job.seed = jobs[0].seed
        job_ids = [j.id for j in jobs]
    for job_id in job_ids:
        assert generation_service.run_job(job_id=job_id) == "done"
    candidate_ids = [wait_generation(c, str(job_id))["candidates"][0]["id"] for (c, _), job_id in zip(users, job_ids)]

    barrier = threading.Barrier(len(users))

    def buy(pair):
        (client, _), candidate_id = pair
        barrier.wait()
        return client.post(f"/api/candidates/{candidate_id}/purchase")

    with ThreadPoolExecutor(len(users)) as pool:
        results = list(pool.map(buy, zip(users, candidate_ids)))
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 19, [r.text for r in results if r.status_code not in (201, 409)]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {"near_duplicate_sold"}
    assert sorted(_state(uid)[:2] for _, uid in users) == [(90, 1)] + [(100, 0)] * 19
