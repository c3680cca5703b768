"""Fair generation (effigies.generation.fairqueue, router's image budgets): one person's flood no
longer starves everyone else's jobs.

- the scheduler alone, on a lane of its own (no worker serves it): whose item comes next, weighed
  in images, at most one running per person and one of all the floods, and a dead worker's item
  taken again;
- the image budgets per account, per address and per visitor, boards counted as 16 or 64;
- on the real stack (API, Celery worker of 4 threads, PostgreSQL, Redis): while two accounts
  flood the queue, a third person's 20 jobs finish within twice the idle p95 (measured in the
  same test, just before the flood: the machine's other load moves both alike).
"""
from __future__ import annotations

import json
import math
import threading
import time
import uuid

import pytest
import redis

from effigies.config import get_settings
from tests.conftest import ApiClient, within_one_window
from tests.generation.test_limits import assert_rate_limited, fresh_ip

SLUG = "pixel-heroes"


# ---------------------------------------------------------------- the scheduler, alone


@pytest.fixture
def lane(stack):
    """A lane no worker serves: this test pops by hand. Its keys go with it."""
    name = f"fair-test-{uuid.uuid4().hex[:8]}"
    yield name
    r = redis.Redis.from_url(get_settings().redis_url)
    for key in r.scan_iter(f"ee:fq:{name}:*"):
        r.delete(key)


def serve_all(lane: str, on_pop=None) -> list[str]:
    """Pop and finish items one at a time, as one worker thread would: their ids in order."""
    from effigies.generation import fairqueue

    order = []
    while True:
        item, _ = fairqueue.pop(lane)
        if item is None:
            return order
        order.append(item.id)
        fairqueue.done(item, lane)
        if on_pop:
            on_pop(len(order))


def test_a_newcomer_is_served_next_and_images_weigh(lane):
    from effigies.generation import fairqueue

    for i in range(4):
        fairqueue.push(owner="u:boards", kind="board", item_id=f"board-{i}", images=64, lane=lane)
    for i in range(12):
        fairqueue.push(owner="u:jobs", kind="job", item_id=f"job-{i}", images=8, lane=lane)
    assert fairqueue.waiting(lane) == 16

    def newcomer(popped: int) -> None:
        if popped == 3:  # two people flooding for a while: a third asks for 4 images
            assert fairqueue.push(owner="v:someone", kind="job", item_id="newcomer", images=4, lane=lane)

    order = serve_all(lane, newcomer)
    assert order[3] == "newcomer"  # served next, ahead of everything already waiting
    # Weighted in images: a board of 64 for every eight jobs of 8, not one for one.
    first = [i for i in order if i != "newcomer"][:10]
    assert sum(i.startswith("board") for i in first) == 2, order
    assert fairqueue.waiting(lane) == 0


def test_one_item_per_person_runs_at_once(lane):
    from effigies.generation import fairqueue

    assert fairqueue.push(owner="u:a", kind="job", item_id="a1", images=8, lane=lane)  # due: wake a worker
    assert not fairqueue.push(owner="u:a", kind="job", item_id="a2", images=8, lane=lane)  # already due
    first, due = fairqueue.pop(lane)
    assert first.id == "a1" and due == 0
    # a2 waits for a1 however many workers are free; another person's item does not.
    assert fairqueue.pop(lane) == (None, 0)
    assert fairqueue.push(owner="u:b", kind="job", item_id="b1", images=8, lane=lane)
    other, _ = fairqueue.pop(lane)
    assert other.id == "b1"
    fairqueue.done(first, lane)
    fairqueue.done(first, lane)  # twice: harmless
    assert fairqueue.pop(lane)[0].id == "a2"


def test_people_with_work_waiting_share_one_thread_and_the_others_take_the_rest(lane):
    from effigies.generation import fairqueue

    for owner in ("u:a", "u:b"):
        for i in range(3):
            fairqueue.push(owner=owner, kind="job", item_id=f"{owner}-{i}", images=8, lane=lane)
    bulk, due = fairqueue.pop(lane)  # a flood: more waiting behind it
    assert bulk.id == "u:a-0" and due == 0
    assert fairqueue.pop(lane) == (None, 0)  # b floods too: it waits for the flood's thread
    fairqueue.push(owner="v:c", kind="job", item_id="c", images=4, lane=lane)
    fairqueue.push(owner="u:d", kind="job", item_id="d", images=4, lane=lane)
    light, due = fairqueue.pop(lane)
    assert due == 1  # one more is due: wake another worker
    assert {light.id, fairqueue.pop(lane)[0].id} == {"c", "d"}
    fairqueue.done(bulk, lane)
    assert fairqueue.pop(lane)[0].id == "u:b-0"  # the flood's thread is free: b's turn


def test_a_dead_workers_item_is_taken_again_once_its_lease_ends(lane, monkeypatch):
    from effigies.generation import fairqueue

    fairqueue.push(owner="u:a", kind="job", item_id="a1", images=4, lane=lane)
    fairqueue.push(owner="u:a", kind="job", item_id="a2", images=4, lane=lane)
    taken, _ = fairqueue.pop(lane)  # ... and its worker dies: no done()
    assert fairqueue.pop(lane) == (None, 0)
    later = time.time() + fairqueue.lease_seconds() + 1
    monkeypatch.setattr(fairqueue.time, "time", lambda: later)
    again, _ = fairqueue.pop(lane)
    assert again == taken  # back at the head of its owner's list, before a2
    fairqueue.done(again, lane)
    fairqueue.done(taken, lane)  # the first worker was only slow: its late done() changes nothing
    assert serve_all(lane) == ["a2"]
    assert fairqueue.reclaim(lane) == (0, 0)


def test_a_floods_thread_gives_way_while_someone_elses_item_runs(monkeypatch):
    from effigies.generation import fairqueue

    monkeypatch.setattr(fairqueue, "YIELD_S", 30.0)
    light = fairqueue.Item(owner="u:x", kind="job", id="x", images=4, raw="x")
    bulk = fairqueue.Item(owner="u:y", kind="board", id="y", images=64, raw="y", bulk=True)
    through = threading.Event()

    def flood() -> None:
        with fairqueue.running(bulk):
            fairqueue.yield_to_others()  # before each forward pass (sampler.generate)
            through.set()

    with fairqueue.running(light):
        fairqueue.yield_to_others()  # someone else's own thread never waits
        thread = threading.Thread(target=flood)
        thread.start()
        assert not through.wait(0.3)
        started = time.monotonic()
    assert through.wait(10) and time.monotonic() - started < 10  # let through when it ended, not at YIELD_S
    thread.join(10)


# ---------------------------------------------------------------- image budgets


def test_an_accounts_image_budget_counts_boards_as_their_samples(make_user):
    budget = get_settings().generation_images_per_user

    def check() -> None:
        user, _ = make_user()
        headers = {"X-Forwarded-For": fresh_ip()}
        boards = budget // 64
        for _ in range(boards):
            response = user.post(f"/api/themes/{SLUG}/boards", json={"count": 64}, headers=headers)
            assert response.status_code == 202, response.text
        # One board more would pass the budget: refused, and it spends nothing...
        assert_rate_limited(user.post(f"/api/themes/{SLUG}/boards", json={"count": 64}, headers=headers))
        # ... so the rest is still there for jobs, to the last image.
        left = budget - 64 * boards
        for _ in range(left // 8):
            assert user.post("/api/themes/no-such-theme/generations", json={"count": 8}, headers=headers).status_code == 404
        if left % 8:
            assert user.post("/api/themes/no-such-theme/generations", json={"count": left % 8},
                             headers=headers).status_code == 404
        assert_rate_limited(user.post("/api/themes/no-such-theme/generations", json={"count": 1}, headers=headers))

    within_one_window(check, 60)


def test_an_addresss_image_budget_holds_whoever_asks(make_user):
    settings = get_settings()
    per_ip, per_user = settings.generation_images_per_ip, settings.generation_images_per_user

    def check() -> None:
        headers = {"X-Forwarded-For": fresh_ip()}
        spent, mine, user = 0, 0, None

        def ask(path: str, count: int) -> None:
            """From an account with room left (a new one when needed): only the address's budget
            binds. An unknown theme answers 404 once the budgets passed, so nothing is drawn."""
            nonlocal spent, mine, user
            if user is None or mine + count > per_user:
                user, mine = make_user()[0], 0
            response = user.post(path, json={"count": count}, headers=headers)
            assert response.status_code == 404, response.text
            spent, mine = spent + count, mine + count

        while spent + 64 <= per_ip:
            ask("/api/themes/no-such-theme/boards", 64)
        while spent < per_ip:
            ask("/api/themes/no-such-theme/generations", min(8, per_ip - spent))
        # The address has spent its images: an account that has asked for none is refused there...
        newcomer, _ = make_user()
        assert_rate_limited(newcomer.post("/api/themes/no-such-theme/generations", json={"count": 1}, headers=headers))
        assert_rate_limited(newcomer.post(f"/api/themes/{SLUG}/boards", json={"count": 16}, headers=headers))
        # ... and not elsewhere.
        elsewhere = {"X-Forwarded-For": fresh_ip()}
        assert newcomer.post("/api/themes/no-such-theme/generations", json={"count": 8}, headers=elsewhere).status_code == 404

    within_one_window(check, 60)


def test_a_visitors_image_budget(stack):
    budget = get_settings().generation_images_per_visitor

    def check() -> None:
        with ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()}) as visitor:
            for _ in range(budget // 8):
                assert visitor.post("/api/themes/no-such-theme/generations", json={"count": 8}).status_code == 404
            assert_rate_limited(visitor.post("/api/themes/no-such-theme/generations", json={"count": 8}))

    within_one_window(check, 60)


# ---------------------------------------------------------------- fairness on the real stack

FLOOD_BACKLOG = {"boards": 4, "jobs": 16}  # items each flooder keeps queued, topped up as they go
VICTIM_JOBS = 20
IDLE_FLOOR_S = 0.1


def p95(values: list[float]) -> float:
    ranked = sorted(values)
    return ranked[math.ceil(0.95 * len(ranked)) - 1]  # nearest rank: the 19th of 20


def run_and_wait(client: ApiClient, count: int = 4) -> str:
    """One job, waited for on its event stream (the server ends it on the worker's notice)."""
    response = client.post(f"/api/themes/{SLUG}/generations", json={"count": count})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    with client.stream("GET", f"/api/generations/{job_id}/events", timeout=120) as stream:
        final = None
        for line in stream.iter_lines():
            if line.startswith("data:"):
                final = json.loads(line[5:])
    assert final is not None and final["status"] == "done", final
    return job_id


def latencies(job_ids: list[str], waits: list[float] | None = None) -> list[float]:
    """Each job's own created_at -> finished_at, from the database (no test clock involved);
    `waits` gets each one's created_at -> started_at (its time in the queue)."""
    from sqlalchemy import select

    from effigies.db import session_scope
    from effigies.generation.models import GenerationJob

    with session_scope() as session:
        rows = session.execute(select(GenerationJob.created_at, GenerationJob.started_at, GenerationJob.finished_at)
                               .where(GenerationJob.id.in_([uuid.UUID(j) for j in job_ids]))).all()
    assert len(rows) == len(job_ids)
    if waits is not None:
        waits.extend((started - created).total_seconds() for created, started, _ in rows)
    return [(finished - created).total_seconds() for created, _, finished in rows]


class Flood:
    """One account keeping `backlog` boards of 64 or jobs of 8 queued until stopped: what it
    sends goes in through the service, past the API's budgets (as twelve accounts' worth would)."""

    def __init__(self, user_id: uuid.UUID, kind: str) -> None:
        from effigies.generation import fairqueue

        self.user_id, self.kind = user_id, kind
        self.owner_list = f"ee:fq:{fairqueue.LANE}:q:{fairqueue.owner_key(user_id=user_id)}"
        self.sent: list[str] = []
        self.images = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _send(self) -> None:
        from effigies.db import session_scope
        from effigies.generation import boards, service

        with session_scope() as session:
            if self.kind == "boards":
                self.sent.append(boards.request_board(session=session, user_id=self.user_id, slug=SLUG, count=64, locale="fr"))
                self.images += 64
            else:
                self.sent.append(str(service.submit_job(session=session, slug=SLUG, count=8, user_id=self.user_id)))
                self.images += 8

    def _run(self) -> None:
        r = redis.Redis.from_url(get_settings().redis_url)
        try:
            while not self.stop.is_set():
                if r.llen(self.owner_list) < FLOOD_BACKLOG[self.kind]:
                    self._send()
                else:
                    self.stop.wait(0.01)  # a load generator's pace, not a wait for a result
        except BaseException as exc:  # seen by the test
            self.error = exc

    def waiting(self) -> int:
        return redis.Redis.from_url(get_settings().redis_url).llen(self.owner_list)


def wait_drained(floods: list[Flood], timeout: float = 300) -> None:
    """Every flood item done: jobs in the database, boards' PDFs on disk (nothing lost)."""
    from sqlalchemy import func, select

    from effigies.db import session_scope
    from effigies.generation import board
    from effigies.generation.models import GenerationJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = 0
        for flood in floods:
            if flood.kind == "boards":
                pending += sum(not (board.board_dir(b) / "board.pdf").is_file() for b in flood.sent)
            else:
                with session_scope() as session:
                    pending += session.scalar(select(func.count()).select_from(GenerationJob).where(
                        GenerationJob.user_id == flood.user_id, GenerationJob.status.in_(("queued", "running"))))
        if not pending:
            return
        time.sleep(0.2)
    raise AssertionError(f"{pending} flood items not done after {timeout} s")


def test_a_third_persons_jobs_finish_within_twice_their_idle_latency_during_a_flood(stack, make_user):
    def person() -> ApiClient:
        client, _ = make_user()
        client.headers["X-Forwarded-For"] = fresh_ip()
        return client

    run_and_wait(person())  # the generator loaded and warm before anything is measured
    # Idle: someone's 20 jobs one after another, nobody else asking.
    idle_person = person()
    idle_waits: list[float] = []
    idle = latencies([run_and_wait(idle_person) for _ in range(VICTIM_JOBS)], idle_waits)

    floods = [Flood(make_user()[1], "boards"), Flood(make_user()[1], "jobs")]
    for flood in floods:
        flood.thread.start()
    try:
        # The flood is under way: both backlogs full, the workers busy with them.
        deadline = time.monotonic() + 60
        while any(f.waiting() < FLOOD_BACKLOG[f.kind] for f in floods):
            assert time.monotonic() < deadline, "the flood never filled its backlog"
            time.sleep(0.05)
        victim = person()
        flood_waits: list[float] = []
        flooded = latencies([run_and_wait(victim) for _ in range(VICTIM_JOBS)], flood_waits)
        # Still flooding when the victim's last job ended: the measure was taken under the flood.
        assert all(f.waiting() > 0 for f in floods), [f.waiting() for f in floods]
    finally:
        for flood in floods:
            flood.stop.set()
            flood.thread.join(30)
    assert all(f.error is None for f in floods), [f.error for f in floods]
    wait_drained(floods)

    idle_p95, flood_p95 = p95(idle), p95(flooded)
    print(f"\nvictim p95: idle {idle_p95 * 1000:.0f} ms, under a flood {flood_p95 * 1000:.0f} ms "
          f"(medians {sorted(idle)[9] * 1000:.0f} / {sorted(flooded)[9] * 1000:.0f} ms; flood sent "
          f"{sum(f.images for f in floods)} images: {len(floods[0].sent)} boards of 64, {len(floods[1].sent)} jobs of 8; "
          f"median wait in the queue {sorted(idle_waits)[9] * 1000:.0f} / {sorted(flood_waits)[9] * 1000:.0f} ms)")
    # Twice the idle p95, an idle p95 under IDLE_FLOOR_S counting as IDLE_FLOOR_S: on a quiet
    # moment of this shared 2-core machine the idle p95 falls to ~55 ms, where one 50 ms slice
    # taken by its other tenants (a training run, other test sessions) is a 2x by itself. The
    # issue's own idle figure was 140-210 ms; the FIFO this replaces gave 9.4-10.3 s.
    assert flood_p95 <= 2 * max(idle_p95, IDLE_FLOOR_S), (idle, flooded)
