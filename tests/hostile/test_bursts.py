"""Rate limits under concurrent bursts, split across two API processes.

The test stack runs one API process (`effigies api` starts one outside production,
effigies.api.server.worker_count); this module starts a second on the same database and Redis,
with the same settings, and sends every other request of each burst to it. Each burst is sized
so that per-process counters would let through more than the limit: exactly the configured number
passing shows the counters are shared. The rest get 429, a Retry-After, and a JSON error.
"""
from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from effigies.accounts.router import SIGNUP_WINDOW_S
from effigies.config import get_settings
from effigies.generation.router import GENERATION_WINDOW_S
from tests.conftest import _spawn, _stop, csrf_token, free_port, wait_http
from tests.hostile.conftest import PASSWORD, fresh_ip, make_account, row_counts


@pytest.fixture(scope="module")
def urls(stack) -> list[str]:
    """The stack's API process and a second one beside it."""
    port = free_port()
    env = {**stack.env, "EE_PORT": str(port), "EE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    api = _spawn(["api"], env, stack.data_dir / "logs" / "api-bursts.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/api/health", 90, api)
        yield [stack.url, url]
    finally:
        _stop(api)


def burst(urls: list[str], requests: list[dict]) -> list[httpx.Response]:
    """Send all `requests` at once from threads, request i to urls[i % 2]; each dict holds
    method, path, and optionally json, headers and cookies."""
    start = threading.Barrier(min(len(requests), 32))

    def send(i: int) -> httpx.Response:
        r = requests[i]
        csrf = csrf_token(urls[i % len(urls)], r.get("cookies", {}).get("ee_session"))
        cookies = {"csrftoken": csrf, **r.get("cookies", {})}
        headers = {"X-CSRF-Token": csrf, **r.get("headers", {})}
        with httpx.Client(base_url=urls[i % len(urls)], timeout=120, cookies=cookies) as c:
            if i < start.parties:
                start.wait(60)
            return c.request(r.get("method", "POST"), r["path"], json=r.get("json"), headers=headers)

    with ThreadPoolExecutor(max_workers=start.parties) as pool:
        return list(pool.map(send, range(len(requests))))


def assert_exactly(responses: list[httpx.Response], passed: int, limit: int, window_s: int) -> None:
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {passed: limit, 429: len(responses) - limit}, statuses
    for r in responses:
        if r.status_code == 429:
            assert r.headers["content-type"].startswith("application/json")
            assert set(r.json()["error"]) == {"code", "message"} and r.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(r.headers["retry-after"]) <= window_s


def fixed_window_with_room(window_s: int, room_s: float = 15) -> None:
    """Fixed windows restart their count at each boundary: start a burst with room before the next."""
    left = window_s - time.time() % window_s
    if left < min(room_s, window_s - 1):
        time.sleep(left + 0.5)


def window_counts(scope: str, key: str) -> dict[int, int]:
    """{window number: count} of the fixed-window counters the API keeps in Redis for (scope, key)
    (effigies.api.ratelimit)."""
    r = redis.Redis.from_url(get_settings().redis_url)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return {int(k.rsplit(b":", 1)[1]): int(r.get(k)) for k in r.scan_iter(f"ee:rl:{scope}:{digest}:*")}


def burst_in_one_window(window_s: int, attempt, attempts: int = 3):
    """Run `attempt()` (a burst with identities of its own, returning (result, [(scope, key)] of the
    counters it spends)) until the API's own counters show that the whole burst fell in one fixed
    window; returns the result and the burst's size as counted in that window. A burst that
    straddled a boundary (which no wait can rule out on a busy machine) proves nothing either
    way, and is tried again with fresh identities and more room."""
    room = 15.0
    for _ in range(attempts):
        fixed_window_with_room(window_s, room)
        started = time.monotonic()
        result, counters = attempt()
        counts = [window_counts(scope, key) for scope, key in counters]
        if all(len(c) == 1 for c in counts):
            return result, [next(iter(c.values())) for c in counts]
        assert all(len(c) == 2 for c in counts), counts  # 0 windows: the counters are not where we look
        room = max(room, 2 * (time.monotonic() - started))
    raise AssertionError(f"{attempts} bursts in a row straddled a {window_s} s window boundary")


def test_one_persons_generation_burst_gets_exactly_their_limit(stack, urls):
    limit = get_settings().generation_rate_per_user
    total = limit + limit // 2

    def attempt():
        account = make_account(stack)
        cookies = {"ee_session": account.client.cookies["ee_session"]}
        before = row_counts("generation_jobs")
        responses = burst(urls, [
            {"path": "/api/themes/galactic-droids/generations", "json": {"count": 1}, "cookies": cookies,
             "headers": {"X-Forwarded-For": account.ip}}
            for _ in range(total)
        ])
        made = row_counts("generation_jobs")["generation_jobs"] - before["generation_jobs"]
        return (responses, made), [("generate", str(account.id)), ("generate-ip", account.ip)]

    (responses, made), counted = burst_in_one_window(GENERATION_WINDOW_S, attempt)
    assert counted == [total, total]  # every request counted once, in one window shared by both processes
    assert_exactly(responses, 202, limit, GENERATION_WINDOW_S)
    assert made == limit


def test_one_addresss_generation_burst_gets_exactly_its_limit(stack, urls):
    limit = get_settings().generation_rate_per_ip
    per_person = get_settings().generation_rate_per_user
    total = limit + limit // 4

    def attempt():
        ip = fresh_ip()
        people = [make_account(stack, ip=ip) for _ in range(total // (per_person // 2) + 1)]  # each under their own limit
        # An unknown theme answers 404 once past the limits, so the burst queues no work.
        responses = burst(urls, [
            {"path": "/api/themes/no-such-theme/generations", "json": {"count": 1},
             "cookies": {"ee_session": people[i % len(people)].client.cookies["ee_session"]}, "headers": {"X-Forwarded-For": ip}}
            for i in range(total)
        ])
        return responses, [("generate-ip", ip)]

    responses, counted = burst_in_one_window(GENERATION_WINDOW_S, attempt)
    assert counted == [total]
    assert_exactly(responses, 404, limit, GENERATION_WINDOW_S)


def test_a_burst_of_wrong_passwords_on_one_account_gets_exactly_its_budget(stack, urls):
    settings = get_settings()
    limit = settings.login_failures_per_account
    victim = make_account(stack)
    # Each guess from an address of its own: only the account's budget binds.
    responses = burst(urls, [
        {"path": "/api/auth/login", "json": {"email": victim.email, "password": f"guess-{i}-guess"},
         "headers": {"X-Forwarded-For": fresh_ip()}}
        for i in range(limit + limit // 2 + 1)
    ])
    assert_exactly(responses, 401, limit, settings.login_failure_window_s)
    # The account is paused for everyone now, the right password included (else guessing goes on).
    with httpx.Client(base_url=urls[1], timeout=30) as c:
        token = csrf_token(urls[1])
        c.cookies.set("csrftoken", token)
        late = c.post("/api/auth/login", json={"email": victim.email, "password": PASSWORD},
                      headers={"X-CSRF-Token": token, "X-Forwarded-For": fresh_ip()})
    assert late.status_code == 429


def test_a_burst_of_guesses_across_accounts_from_one_address_gets_exactly_its_budget(stack, urls):
    settings = get_settings()
    limit = settings.login_failures_per_ip
    ip = fresh_ip()
    # One guess per (made-up) account: every per-account budget stays far from spent.
    responses = burst(urls, [
        {"path": "/api/auth/login", "json": {"email": f"nobody-{uuid.uuid4().hex[:10]}@players.effigies.fr",
                                              "password": "guess-guess-guess"}, "headers": {"X-Forwarded-For": ip}}
        for _ in range(limit + limit // 2)
    ])
    assert_exactly(responses, 401, limit, settings.login_failure_window_s)
    # Someone elsewhere is not held back.
    person = make_account(stack)
    assert burst(urls, [{"path": "/api/auth/login", "json": {"email": person.email, "password": PASSWORD},
                         "headers": {"X-Forwarded-For": fresh_ip()}}])[0].status_code == 200


def test_right_passwords_in_bursts_are_never_counted(stack, urls):
    """Three bursts, three times the account's budget in all: every one gets in. (A log-in holds a
    place only while its password is checked, so one burst stays under the budget.)"""
    budget = get_settings().login_failures_per_account
    person = make_account(stack)
    ip = fresh_ip()
    for _ in range(3):
        responses = burst(urls, [
            {"path": "/api/auth/login", "json": {"email": person.email, "password": PASSWORD}, "headers": {"X-Forwarded-For": ip}}
            for _ in range(budget - 1)
        ])
        assert Counter(r.status_code for r in responses) == {200: budget - 1}


def test_a_burst_of_sign_ups_from_one_address_gets_exactly_its_limit(stack, urls):
    limit = get_settings().signup_rate_per_ip
    total = limit + limit // 2

    def attempt():
        ip = fresh_ip()
        before = row_counts("signup_requests")
        responses = burst(urls, [
            {"path": "/api/auth/signup", "headers": {"X-Forwarded-For": ip},
             "json": {"email": f"burst-{uuid.uuid4().hex[:10]}@players.effigies.fr", "password": PASSWORD, "display_name": "B"}}
            for _ in range(total)
        ])
        return (responses, row_counts("signup_requests")["signup_requests"] - before["signup_requests"]), [("signup", ip)]

    (responses, made), counted = burst_in_one_window(SIGNUP_WINDOW_S, attempt)
    assert counted == [total]
    assert_exactly(responses, 202, limit, SIGNUP_WINDOW_S)
    assert made == limit  # a refused sign-up stores nothing (and mails nothing)


def test_one_persons_burst_of_boards_gets_exactly_their_images(stack, urls):
    """Images, not requests: a board of 64 spends 64 of the account's budget, in one Lua step
    across both processes, so the burst gets budget // 64 boards and a refusal spends nothing."""
    budget = get_settings().generation_images_per_user
    total = budget // 64 + 4  # under BOARD_RATE_PER_USER requests: only the images run out

    def attempt():
        account = make_account(stack)
        cookies = {"ee_session": account.client.cookies["ee_session"]}
        # An unknown theme answers 404 once past the budgets, so the burst draws nothing.
        responses = burst(urls, [
            {"path": "/api/themes/no-such-theme/boards", "json": {"count": 64}, "cookies": cookies,
             "headers": {"X-Forwarded-For": account.ip}}
            for _ in range(total)
        ])
        return responses, [("images", str(account.id)), ("images-ip", account.ip)]

    responses, counted = burst_in_one_window(GENERATION_WINDOW_S, attempt)
    passed = budget // 64
    assert counted == [64 * passed, 64 * passed]  # the refused boards spent nothing
    assert_exactly(responses, 404, passed, GENERATION_WINDOW_S)
