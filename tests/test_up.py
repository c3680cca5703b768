"""`effigies up` end to end, with real processes: embedded PostgreSQL, Valkey and localstripe,
`db upgrade`, a Celery worker and uvicorn. Checks clean shutdown (no orphans), restart speed,
data kept across restarts, refusal of a second `up`, and recovery after `kill -9`.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

COLD_HEALTH_TIMEOUT_S = 240.0  # first run: initdb + migrations on a busy 2-core machine
WARM_HEALTH_TIMEOUT_S = 120.0  # a deadline, not a benchmark: a warm start's speed comes from skipping initdb
STOP_LIMIT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _up_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
                        "STRIPE_PUBLISHABLE_KEY", "STRIPE_API_BASE", "EE_PUBLIC_URL", "EE_SECRET_KEY",
                        "EE_SMTP_URL", "EE_MAIL_OUTBOX_DIR")}
    env.update({
        "EE_ENV": "local",
        "EE_DATA_DIR": str(data_dir),
        "EE_HOST": "127.0.0.1",
        "EE_PORT": str(port),
        "EE_WORKER_CONCURRENCY": "1",
        # Free ports for the embedded servers: never collide with a developer's own `effigies up`.
        "EE_EMBEDDED_POSTGRES_PORT": "0",
        "EE_EMBEDDED_REDIS_PORT": "0",
        "EE_EMBEDDED_STRIPE_PORT": "0",
        "EE_EMBEDDED_SMTP_PORT": "0",
    })
    return env


Proc = tuple[int, float]  # (pid, create_time): survives pid reuse


def _alive(p: Proc) -> bool:
    try:
        proc = psutil.Process(p[0])
        return abs(proc.create_time() - p[1]) < 0.05 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(p: Proc) -> str:
    try:
        return f"{p[0]} {' '.join(psutil.Process(p[0]).cmdline())[:150]}"
    except psutil.Error:
        return str(p[0])


class Up:
    """One `python -m effigies.cli up` child, its log, and the processes it owns."""

    def __init__(self, data_dir: Path, port: int, log: Path) -> None:
        self.data_dir, self.port, self.log = data_dir, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.started = time.monotonic()
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "effigies.cli", "up"], cwd=ROOT, env=_up_env(data_dir, port),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def wait_healthy(self, timeout: float) -> float:
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"`effigies up` exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/api/health", timeout=2, trust_env=False).status_code == 200:
                    return time.monotonic() - self.started
            time.sleep(0.2)
        pytest.fail(f"/api/health not 200 after {timeout}s:\n{self.log_tail()}")

    def tree(self) -> set[Proc]:
        """`up` and all its descendants, plus whatever postmaster.pid names (should be one of them)."""
        roots = [self.proc.pid]
        with contextlib.suppress(OSError, ValueError, IndexError):
            roots.append(int((self.data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0]))
        found: set[Proc] = set()
        for pid in roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        found.add((p.pid, p.create_time()))
        return found

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, float]:
        t = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`effigies up` still running {STOP_LIMIT_S}s after SIGINT:\n{self.log_tail()}")
        return rc, time.monotonic() - t


def _assert_all_gone(procs: set[Proc], grace: float = 5.0) -> None:
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in procs):
        time.sleep(0.1)
    survivors = [_describe(p) for p in procs if _alive(p)]
    assert not survivors, "orphans left behind:\n" + "\n".join(survivors)


def _kill_all(procs: set[Proc]) -> None:
    for p in procs:
        if _alive(p):
            with contextlib.suppress(psutil.Error):
                psutil.Process(p[0]).kill()


def _read_pid_file(path: Path) -> int:
    """The pid in one of up's `<data>/run/*.pid` files (JSON)."""
    import json

    return int(json.loads(path.read_text())["pid"])


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30, trust_env=False)


def _sign_up(c: httpx.Client, email: str, password: str, display_name: str) -> httpx.Response:
    """Sign up by the e-mailed link, as a person does: the link is read from the outbox (the
    embedded SMTP sink); returns the link's answer, `c` logged in."""
    from tests.conftest import signup_link

    asked = _post(c, "/api/auth/signup", {"email": email, "password": password, "display_name": display_name})
    assert asked.status_code == 202, asked.text
    return _post(c, "/api/auth/signup/confirm", {"token": signup_link(c, email)})


def _post(c: httpx.Client, path: str, body: dict) -> httpx.Response:
    """POST like our frontend does: fetch the CSRF cookie first, echo it in X-CSRF-Token."""
    if "csrftoken" not in c.cookies:
        c.get("/api/config")
    return c.post(path, json=body, headers={"X-CSRF-Token": c.cookies.get("csrftoken", "")})


class Tracker:
    """Every `up` started and every process seen by a test: all killed at teardown, never leaked."""

    def __init__(self) -> None:
        self.procs: set[Proc] = set()
        self.ups: list[Up] = []

    def up(self, data_dir: Path, port: int, log: Path) -> Up:
        up = Up(data_dir, port, log)
        self.ups.append(up)
        return up

    def cleanup(self) -> None:
        for up in self.ups:
            if up.proc.poll() is None:
                self.procs |= up.tree()
                up.proc.kill()
                up.proc.wait()
        _kill_all(self.procs)


@pytest.fixture
def tracker() -> Tracker:
    t = Tracker()
    yield t
    t.cleanup()


def test_up_stops_cleanly_restarts_fast_and_keeps_data(tmp_path: Path, tracker: Tracker) -> None:
    data_dir, port = tmp_path / "data", _free_port()
    email, password = f"up-{uuid.uuid4().hex[:8]}@players.effigies.fr", "correct-horse-battery"

    # Run 1: cold start (initdb), sign up, then Ctrl-C.
    up = tracker.up(data_dir, port, tmp_path / "up1.log")
    cold = up.wait_healthy(COLD_HEALTH_TIMEOUT_S)
    assert "postgres: initdb" in up.log.read_text(errors="replace"), up.log_tail()
    cluster = (data_dir / "postgres" / "PG_VERSION").stat()
    tree = up.tree()
    tracker.procs |= tree
    names = " ".join(_describe(p) for p in tree)
    for expected in ("valkey-server", "postgres", "effigies.embedded._localstripe_main",
                     "effigies.embedded._smtp_main", "effigies.cli worker", "effigies.cli api"):
        assert expected in names, f"{expected} not in the process tree: {names}"
    assert (data_dir / "run" / "up.pid").exists()
    assert oct((data_dir / "secrets.json").stat().st_mode & 0o777) == "0o600"
    with _client(up.url) as c:
        r = _sign_up(c, email, password, "Up Test")
        assert r.status_code == 200, r.text
        session_cookies = dict(c.cookies)
        # The sign-up's link went through the embedded SMTP sink to the outbox.
        outbox = c.get("/api/mail/outbox", params={"to": email}).json()["messages"]
        assert [m["subject"] for m in outbox] == ["Terminez la création de votre compte — Effigies Edification"]
        assert list((data_dir / "mail").glob("*.eml")), "no message file in <data dir>/mail"
    # Beside the running `up`, with nothing configured, `effigies admin create` finds its database.
    admin = subprocess.run(
        [sys.executable, "-m", "effigies.cli", "admin", "create", "--email", f"ops-{email}"], cwd=ROOT,
        env={**_up_env(data_dir, port), "EE_ADMIN_PASSWORD": "admin-beside-up-42"}, capture_output=True, text=True,
        timeout=120,
    )
    assert admin.returncode == 0, admin.stderr
    with _client(up.url) as c:
        r = _post(c, "/api/auth/login", {"email": f"ops-{email}", "password": "admin-beside-up-42"})
        assert r.status_code == 200 and r.json()["role"] == "admin", r.text
    rc, stop_s = up.stop(signal.SIGINT)
    assert rc == 0, up.log_tail()
    _assert_all_gone(tree)
    assert not (data_dir / "run" / "up.pid").exists()
    assert not (data_dir / "run" / "services.json").exists()
    assert "stopped in" in up.log_tail()

    # Run 2: a warm start reuses the cluster (no initdb: what makes a cold start slow); the user,
    # and their session, survived. (How fast it is, printed here, is not asserted on a shared machine.)
    up = tracker.up(data_dir, port, tmp_path / "up2.log")
    warm = up.wait_healthy(WARM_HEALTH_TIMEOUT_S)
    print(f"\ncold start {cold:.1f}s, SIGINT stop {stop_s:.1f}s, warm start {warm:.1f}s")
    assert "initdb" not in up.log.read_text(errors="replace"), up.log_tail()
    again = (data_dir / "postgres" / "PG_VERSION").stat()
    assert (again.st_ino, again.st_mtime_ns) == (cluster.st_ino, cluster.st_mtime_ns), "the cluster was made anew"
    tree = up.tree()
    tracker.procs |= tree
    with _client(up.url) as c:
        c.cookies.update(session_cookies)
        assert c.get("/api/me").status_code == 200, "session lost across restart (EE_SECRET_KEY not kept?)"
    with _client(up.url) as c:
        r = _post(c, "/api/auth/login", {"email": email, "password": password})
        assert r.status_code == 200, r.text

    # A second `up` on the same data dir is refused while this one lives.
    second = subprocess.run([sys.executable, "-m", "effigies.cli", "up"], cwd=ROOT,
                            env=_up_env(data_dir, _free_port()), capture_output=True, text=True, timeout=60)
    assert second.returncode != 0
    assert f"pid {up.proc.pid}" in second.stderr and "in use" in second.stderr, second.stderr
    assert up.proc.poll() is None

    rc, _ = up.stop(signal.SIGTERM)
    assert rc == 0, up.log_tail()
    _assert_all_gone(tree)


def test_up_recovers_after_sigkill(tmp_path: Path, tracker: Tracker) -> None:
    data_dir, port = tmp_path / "data", _free_port()
    email, password = f"kill-{uuid.uuid4().hex[:8]}@players.effigies.fr", "correct-horse-battery"

    up = tracker.up(data_dir, port, tmp_path / "up1.log")
    up.wait_healthy(COLD_HEALTH_TIMEOUT_S)
    first_tree = up.tree()
    tracker.procs |= first_tree
    with _client(up.url) as c:
        assert _sign_up(c, email, password, "K").status_code == 200

    up.proc.kill()
    up.proc.wait(10)
    # Leftovers stay as they are (the detached postgres does, at least): the next `up` must cope
    # with them, with the stale up.pid / postmaster.pid / *.pid files, and with busy ports.
    assert (data_dir / "run" / "up.pid").exists()

    up = tracker.up(data_dir, port, tmp_path / "up2.log")
    took = up.wait_healthy(60)
    second_tree = up.tree()
    tracker.procs |= second_tree
    with _client(up.url) as c:
        r = _post(c, "/api/auth/login", {"email": email, "password": password})
        assert r.status_code == 200, r.text
    print(f"\nrestart after kill -9: healthy in {took:.1f}s")

    # A child that dies takes everything down, with a non-zero exit and a message.
    worker_pid = _read_pid_file(data_dir / "run" / "worker.pid")
    os.kill(worker_pid, signal.SIGKILL)
    try:
        rc = up.proc.wait(STOP_LIMIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`effigies up` did not stop after its worker died:\n{up.log_tail()}")
    assert rc != 0
    assert "worker exited" in up.log_tail(), up.log_tail()
    _assert_all_gone(first_tree | second_tree)



def test_leftover_servers_of_a_killed_run_are_replaced(tmp_path: Path) -> None:
    """What `up` relies on after kill -9: a server named by our pid file is stopped, not doubled."""
    from effigies.embedded import EmbeddedRedis, EmbeddedStripe

    for cls in (EmbeddedRedis, EmbeddedStripe):
        old = cls(tmp_path, port=None, log=lambda _m: None)
        old.start()
        old_pid = old.pid
        new = cls(tmp_path, port=None, log=lambda _m: None)  # knows nothing but the data dir
        try:
            new.start()
            new_pid = new.pid
            assert new_pid != old_pid
            old.proc.wait(10)  # the leftover was stopped by the new start()
        finally:
            new.stop()
            old.stop()
        assert not psutil.pid_exists(new_pid)


def test_postgres_recovers_from_stale_state(tmp_path: Path) -> None:
    """postmaster.pid naming: a live orphan postmaster, a dead (SIGKILLed) one, an unrelated process."""
    from effigies.embedded import EmbeddedPostgres

    def pg() -> EmbeddedPostgres:
        return EmbeddedPostgres(tmp_path, port=None, log=lambda _m: None)

    def write_row(url: str, value: str) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS scratch (v text)")
            conn.execute("INSERT INTO scratch VALUES (%s)", (value,))

    def rows(url: str) -> list[str]:
        import psycopg

        with psycopg.connect(url) as conn:
            return [r[0] for r in conn.execute("SELECT v FROM scratch ORDER BY v")]

    orphan = pg()
    write_row(orphan.start(), "a")
    survivor = pg()  # knows only the data dir: must stop the live "orphan" and start its own
    url = survivor.start()
    assert orphan.proc.wait(30) is not None and survivor.pid != orphan.pid
    write_row(url, "b")

    survivor.proc.kill()  # SIGKILL: stale postmaster.pid, backends exiting on their own
    survivor.proc.wait(10)
    assert (tmp_path / "postgres" / "postmaster.pid").exists()
    third = pg()
    url = third.start()
    assert rows(url) == ["a", "b"]
    third.stop()

    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "postgres" / "postmaster.pid").write_text(f"{stranger.pid}\n{tmp_path / 'postgres'}\n")
        fourth = pg()
        assert rows(fourth.start()) == ["a", "b"]
        fourth.stop()
        assert stranger.poll() is None, "an unrelated process named by a stale pid file was killed"
    finally:
        stranger.kill()
        stranger.wait()
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


def test_plan_embeds_only_what_the_environment_lacks() -> None:
    from effigies.embedded import Plan
    from effigies.embedded.services import EmbeddedConfigError

    assert Plan.from_environ({}) == Plan(postgres=True, redis=True, stripe=True, smtp=True)
    full = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "STRIPE_SECRET_KEY": "sk",
            "STRIPE_WEBHOOK_SECRET": "whsec", "STRIPE_PUBLISHABLE_KEY": "pk", "EE_SMTP_URL": "smtp://relay"}
    assert Plan.from_environ(full) == Plan(postgres=False, redis=False, stripe=False, smtp=False)
    assert Plan.from_environ({"DATABASE_URL": "postgresql://x/y"}) == Plan(postgres=False, redis=True, stripe=True,
                                                                          smtp=True)
    with pytest.raises(EmbeddedConfigError):
        Plan.from_environ({"STRIPE_SECRET_KEY": "sk"})


def test_local_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    from effigies.embedded import load_local_secrets

    first = load_local_secrets(tmp_path)
    assert len(first["EE_SECRET_KEY"]) >= 32 and first["STRIPE_WEBHOOK_SECRET"].startswith("whsec_")
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert load_local_secrets(tmp_path) == first
