"""PostgreSQL restarts (fast shutdown, same port) while people buy avatars: requests meanwhile get
a quick 503 JSON, purchases work again by themselves afterwards, and money and ownership agree."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.training.helpers import wait_for

pytestmark = pytest.mark.slow

PRICE = 10
FUNDS = 100
USERS = 4
PER_USER = 4


def _buy_all(c: httpx.Client, candidates: list[str], first_done: threading.Barrier, down: threading.Event,
             log: list, saw_503: set, who: int) -> None:
    """Buy each candidate, retrying after a 503 as the page does; one Idempotency-Key per candidate,
    so a retry of a purchase whose answer was lost replays it instead of charging again. The last
    purchase starts only once PostgreSQL is down: every buyer meets the outage, however the
    threads are scheduled. A request that hangs ends at the client's timeout (30 s), as an error."""
    for n, candidate in enumerate(candidates):
        if n == len(candidates) - 1:
            assert down.wait(60), "PostgreSQL never went down"
        deadline = time.monotonic() + 60
        while True:
            try:
                r = c.post(f"/api/candidates/{candidate}/purchase", json={"withdrawal_waiver": True}, headers={"Idempotency-Key": f"buy-{candidate}"})
                log.append((r.status_code, r.text))
            except httpx.HTTPError as exc:
                log.append((0, repr(exc)))
                return
            if r.status_code == 503:
                saw_503.add(who)
            if r.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if n == 0:
            first_done.wait(30)


def test_purchases_across_a_postgres_restart_stay_consistent(dedicated):
    d = dedicated
    people = []
    for _ in range(USERS):
        c, email = d.signup()
        d.fund(email, FUNDS)
        people.append((c, d.user_id(email)))
    jobs = [(c, d.generate(c, count=PER_USER)) for c, _ in people]
    offered = []
    for c, job_id in jobs:
        body = d.wait_job(c, job_id)
        assert body["status"] == "done" and len(body["candidates"]) == PER_USER, body
        offered.append([x["id"] for x in body["candidates"]])
    for c, _ in people:
        c.get("/api/config")  # the CSRF cookie, before the threads start

    # Everyone buys one avatar, then PostgreSQL stops (fast: open transactions are cut) while
    # they go on buying; it comes back on the same port once every buyer has had a 503.
    first_done = threading.Barrier(USERS + 1)
    down = threading.Event()
    log: list[tuple[int, str]] = []
    saw_503: set[int] = set()
    port = d.postgres.port
    with ThreadPoolExecutor(USERS) as pool:
        futures = [pool.submit(_buy_all, c, cands, first_done, down, log, saw_503, i)
                   for i, ((c, _), cands) in enumerate(zip(people, offered))]
        first_done.wait(60)
        d.postgres.stop()
        down.set()
        try:
            with d.client() as anonymous:
                r = anonymous.get("/api/themes")
                during = (r.status_code, r.text)
            wait_for(lambda: len(saw_503) == USERS or any(f.done() for f in futures), 60,
                     "every buyer to get a 503 while PostgreSQL is down", interval=0.1)
        finally:
            d.postgres.start()
        for f in futures:
            f.result(120)
    assert d.postgres.port == port

    assert during[0] == 503, during
    assert saw_503 == set(range(USERS)), "a buyer never reached the API while PostgreSQL was down"
    for status, text in log:
        assert status in (201, 503), f"{status}: {text}"
        if status == 503:
            assert '"code":"database_unavailable"' in text.replace(" ", ""), text
    # After the restart, without any manual step, every purchase went through, and the worker
    # (whose pooled connections all died) generates again.
    assert sum(1 for status, *_ in log if status == 201) >= USERS * PER_USER
    assert d.wait_job(people[0][0], d.generate(people[0][0], count=1))["status"] == "done"

    all_candidates = [cid for cands in offered for cid in cands]
    # Every sold avatar has exactly one debit, every debit its avatar, every candidate bought once.
    rows = d.sql(
        "SELECT c.id::text, c.status, (SELECT count(*) FROM avatars a WHERE a.candidate_id = c.id), "
        "(SELECT count(*) FROM ledger_transactions t WHERE t.reference = 'purchase:' || c.id::text) "
        "FROM candidates c WHERE c.id::text = ANY(%s)", all_candidates)
    assert sorted(rows) == sorted((cid, "sold", 1, 1) for cid in all_candidates)
    assert d.sql(
        "SELECT t.reference FROM ledger_transactions t WHERE t.kind = 'purchase' AND NOT EXISTS "
        "(SELECT 1 FROM avatars a WHERE 'purchase:' || a.candidate_id::text = t.reference)") == []
    for c, user_id in people:
        credits, debits, balance, owned = d.sql(
            "SELECT coalesce(sum(e.amount_cents) FILTER (WHERE e.amount_cents > 0), 0), "
            "coalesce(-sum(e.amount_cents) FILTER (WHERE e.amount_cents < 0), 0), a.balance_cents, "
            "(SELECT count(*) FROM avatars WHERE owner_id = a.user_id) "
            "FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id "
            "WHERE a.user_id = %s GROUP BY a.id", user_id)[0]
        assert (credits, debits, balance, owned) == (FUNDS, PER_USER * PRICE, FUNDS - PER_USER * PRICE, PER_USER)
        assert c.get("/api/wallet").json()["balance_cents"] == FUNDS - PER_USER * PRICE
    # Double entry holds across the whole ledger.
    assert d.sql("SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING sum(amount_cents) <> 0") == []
    assert d.sql("SELECT coalesce(sum(balance_cents), 0) FROM ledger_accounts") == [(0,)]
