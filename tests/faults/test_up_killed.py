"""`effigies up` SIGKILLed, as an OOM killer would: first only the parent (its children are told by
the kernel, PR_SET_PDEATHSIG), then every process of the run at once (a cgroup kill, a power cut).
Each time the next `effigies up`, started straight away, copes with what is left (stale up.pid,
pid files, postmaster.pid, ports being released, servers still shutting down), and what was
bought before is still there. tests/test_up.py covers the rest of `up`'s life; its helpers are reused.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tests.faults.servers import server_dir
from tests.test_up import COLD_HEALTH_TIMEOUT_S, Tracker, _alive, _assert_all_gone, _client, _free_port, _post, _sign_up

pytestmark = pytest.mark.slow

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@up-faults.effigies.fr", "admin-password-123"
PASSWORD = "correct-horse-battery"
RESTART_HEALTH_TIMEOUT_S = 90.0


@pytest.fixture
def tracker():
    with server_dir("ee-up-kill-") as data_dir:
        t = Tracker()
        t.data_dir = data_dir / "data"
        try:
            yield t
        finally:
            t.cleanup()


def _login(url: str, email: str, password: str):
    c = _client(url)
    r = _post(c, "/api/auth/login", {"email": email, "password": password})
    assert r.status_code == 200, r.text
    return c


def _buy_an_avatar(url: str) -> tuple[str, str]:
    """A new person, funded by the admin, who generates and buys one avatar: (e-mail, public id)."""
    email = f"up-kill-{uuid.uuid4().hex[:8]}@players.effigies.fr"
    with _client(url) as c:
        r = _sign_up(c, email, PASSWORD, "Kill")
        assert r.status_code == 200, r.text
        user_id = r.json()["id"]
        with contextlib.closing(_login(url, ADMIN_EMAIL, ADMIN_PASSWORD)) as admin:
            r = _post(admin, f"/api/admin/wallets/{user_id}/adjustments", {"amount_cents": 100, "reason": "test"})
            assert r.status_code == 201, r.text
        r = _post(c, "/api/themes/galactic-droids/generations", {"count": 1})
        assert r.status_code == 202, r.text
        job_url = f"/api/generations/{r.json()['id']}"
        deadline = time.monotonic() + 90
        while (job := c.get(job_url).json())["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.3)
        assert job["status"] == "done", job
        r = _post(c, f"/api/candidates/{job['candidates'][0]['id']}/purchase", {"withdrawal_waiver": True})
        assert r.status_code == 201, r.text
        return email, r.json()["avatar"]["public_id"]


def _assert_still_there(url: str, email: str, public_id: str) -> None:
    with contextlib.closing(_login(url, email, PASSWORD)) as c:
        assert [a["public_id"] for a in c.get("/api/me/avatars").json()] == [public_id]
        assert c.get("/api/wallet").json()["balance_cents"] == 90
        image = c.get(f"/a/{public_id}.png")
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


def test_up_sigkilled_parent_then_whole_tree_restarts_cleanly_with_its_data(tmp_path: Path, tracker: Tracker,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EE_ADMIN_EMAIL", ADMIN_EMAIL)
    monkeypatch.setenv("EE_ADMIN_PASSWORD", ADMIN_PASSWORD)
    data_dir, port = tracker.data_dir, _free_port()

    up = tracker.up(data_dir, port, tmp_path / "up1.log")
    up.wait_healthy(COLD_HEALTH_TIMEOUT_S)
    email, public_id = _buy_an_avatar(up.url)
    first_tree = up.tree()
    tracker.procs |= first_tree

    # 1. Only the parent. Its children hear of it from the kernel and stop on their own, while
    #    the next `up` is already starting: it must wait for them, not trip over them.
    up.proc.kill()
    up.proc.wait(10)
    up = tracker.up(data_dir, port, tmp_path / "up2.log")
    up.wait_healthy(RESTART_HEALTH_TIMEOUT_S)
    _assert_all_gone(first_tree, grace=30)
    second_tree = up.tree()
    tracker.procs |= second_tree
    assert not first_tree & second_tree
    _assert_still_there(up.url, email, public_id)

    # 2. Every process of the run at once: nobody stops cleanly, PostgreSQL must recover from its WAL.
    #    By process group too, as an OOM kill of the whole service would: a child forked after the
    #    snapshot (a Celery pool child replaced meanwhile) must not outlive the run, orphaned.
    groups = set()
    for pid, _ in second_tree:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    for group in groups - {os.getpgrp()}:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    for pid, _ in second_tree:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).send_signal(signal.SIGKILL)
    up.proc.wait(10)
    _assert_all_gone(second_tree, grace=10)
    stale = [data_dir / "run" / "up.pid", data_dir / "postgres" / "postmaster.pid"]
    assert all(p.exists() for p in stale), [p for p in stale if not p.exists()]
    up = tracker.up(data_dir, port, tmp_path / "up3.log")
    up.wait_healthy(RESTART_HEALTH_TIMEOUT_S)
    third_tree = up.tree()
    tracker.procs |= third_tree
    assert not any(_alive(p) for p in first_tree | second_tree)
    _assert_still_there(up.url, email, public_id)
    # And the restarted stack works, not only reads: another person buys an avatar.
    _buy_an_avatar(up.url)

    rc, _ = up.stop(signal.SIGINT)
    assert rc == 0, up.log_tail()
    _assert_all_gone(third_tree)
