"""The suite runs on real servers: PostgreSQL, Redis, a Celery worker, localstripe, uvicorn.

DATABASE_URL / REDIS_URL from the environment are used when given (CI gives the machine's);
otherwise embedded servers are started, as `make run` would. Each run gets its own database.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

# pytest-xdist runs several test processes, each beside a stack of its own (API, workers), on a
# machine with few cores: one torch thread per process, or their thread pools thrash each other
# (a 5 s training run took minutes). Set before anything imports torch; the stacks inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("EE_TORCH_THREADS", "1")

if TYPE_CHECKING:
    from effigies.embedded.smtp import EmbeddedSmtp

ROOT = Path(__file__).resolve().parents[1]
# Browser fixtures for every package's page tests (browser, context, e2e_server, screenshots).
pytest_plugins = ["tests.browser"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout}s: {last}")


def _with_database(server_url: str, name: str) -> str:
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


def redis_database() -> str:
    """This session's Redis database number: EE_TEST_REDIS_DB (default 11) + the xdist worker's index."""
    first = int(os.environ.get("EE_TEST_REDIS_DB", "11"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = first + int(worker.removeprefix("gw") or 0)
    if not 0 <= number <= 15:
        raise pytest.UsageError(f"Redis database {number} (EE_TEST_REDIS_DB={first}, worker {worker}) is not one of 0-15")
    return str(number)


@dataclass
class Stack:
    env: dict[str, str]
    url: str
    data_dir: Path
    # The suite's own SMTP sink (never a relay EE_SMTP_URL may name): tests read what the app
    # sent from its folder, and stop and restart it to see the app without mail.
    smtp: "EmbeddedSmtp"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from effigies.embedded import embedded_services
    from effigies.embedded.smtp import EmbeddedSmtp

    data_dir = tmp_path_factory.mktemp("ee-data")
    with contextlib.ExitStack() as stack_ctx:
        # Outside pytest's temp tree: another pytest session starting beside this one resets
        # /tmp/pytest-of-<user> to 0700 (and prunes old runs), which kills an embedded PostgreSQL
        # running as its own user inside it (tests/faults/servers.py: server_dir).
        servers_dir = Path(tempfile.mkdtemp(prefix="ee-servers-"))
        stack_ctx.callback(shutil.rmtree, servers_dir, ignore_errors=True)
        smtp = EmbeddedSmtp(servers_dir, port=None, log=lambda _: None)
        mail = {"EE_SMTP_URL": smtp.start(), "EE_MAIL_OUTBOX_DIR": str(smtp.mail_dir)}
        stack_ctx.callback(smtp.stop)
        services = stack_ctx.enter_context(embedded_services(servers_dir, environ={**os.environ, **mail}))
        env = dict(os.environ)
        env.update(services)
        env.update(mail)
        import psycopg

        server_url = env["DATABASE_URL"]
        db_name = f"ee_test_{secrets.token_hex(4)}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        stack_ctx.callback(_drop_database, server_url, db_name)

        port = free_port()
        env.update(
            {
                "DATABASE_URL": _with_database(server_url, db_name),
                "EE_ENV": "test",
                "EE_DATA_DIR": str(data_dir),
                # Built datasets the admin form offers (tests/themes/test_builtin_datasets.py adds folders).
                "EE_BUILT_DATASETS_DIR": str(data_dir / "built-datasets"),
                "EE_PORT": str(port),
                "EE_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "EE_WORKER_CONCURRENCY": "4",
                "EE_ADMIN_EMAIL": "admin@players.effigies.fr",
                "EE_ADMIN_PASSWORD": "admin-password-123",
                # Training: a "quick" run of a few seconds, progress and cancel seen within a second.
                "EE_TRAINING_QUICK_IMAGES": "256",
                "EE_TRAINING_HEARTBEAT_S": "1",
                # What a Prometheus server would send to GET /metrics (tests/monitoring).
                "EE_METRICS_TOKEN": "test-metrics-token-0123456789",
                # Every test's client is 127.0.0.1: the per-client mail budget would be shared by
                # the whole session; the per-address one (3 an hour) is what tests exercise.
                "EE_MAIL_RATE_PER_IP": "500",
                # The same for sign-ups (20 an hour in production): the suite signs up by link dozens
                # of times from 127.0.0.1; tests/hostile/test_bursts.py measures the limit itself,
                # from fresh X-Forwarded-For addresses.
                "EE_SIGNUP_RATE_PER_IP": "60",
                "EE_CARD_ATTEMPTS_PER_IP": "500",  # the same: card forms and top-ups per client address
            }
        )
        # A Redis database of our own, emptied, so queued work of other runs never reaches us.
        # EE_TEST_REDIS_DB lets two test runs share one Redis server side by side; each
        # pytest-xdist worker (gw0, gw1...) takes the next one up.
        redis_db = redis_database()
        base = env["REDIS_URL"].rsplit("/", 1)[0] if env["REDIS_URL"].count("/") >= 3 else env["REDIS_URL"]
        env["REDIS_URL"] = f"{base}/{redis_db}"
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        os.environ.update(env)
        from effigies.config import get_settings
        from effigies.db import reset_engine

        get_settings.cache_clear()
        reset_engine()
        # A test module may have imported the Celery app at collection, before REDIS_URL was ours.
        from effigies.worker import apply_settings

        apply_settings()

        subprocess.run([sys.executable, "-m", "effigies.cli", "db", "upgrade"], env=env, check=True, cwd=ROOT)
        logs = data_dir / "logs"
        logs.mkdir()
        worker = _spawn(["worker", "--concurrency", "4"], env, logs / "worker.log")
        stack_ctx.callback(_stop, worker)
        # One run at a time, as in production (queue `train`, effigies/training).
        train_worker = _spawn(["worker", "--queues", "train", "--concurrency", "1"], env, logs / "worker-train.log")
        stack_ctx.callback(_stop, train_worker)
        api = _spawn(["api"], env, logs / "api.log")
        stack_ctx.callback(_stop, api)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/api/health", 90, api)
        from effigies.embedded import register_webhook

        if env.get("STRIPE_API_BASE"):
            register_webhook(env["STRIPE_API_BASE"], url, env["STRIPE_WEBHOOK_SECRET"])
        yield Stack(env=env, url=url, data_dir=data_dir, smtp=smtp)


def _die_with_parent(parent: int) -> None:
    """In the child: SIGTERM when the test session dies, even by SIGKILL (prctl PR_SET_PDEATHSIG). A
    killed session's workers would otherwise live on and take the next session's jobs from Redis."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the session died before prctl took effect
        os._exit(1)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "ab")
    parent = os.getpid()
    return subprocess.Popen(
        [sys.executable, "-m", "effigies.cli", *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=lambda: _die_with_parent(parent),
    )


def _stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _drop_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(stack: Stack, revision: str = "head", **engine_kwargs):
    """An engine on a new, empty database of the stack's server, migrated to `revision`; dropped after."""
    import psycopg
    from sqlalchemy import create_engine

    from effigies.db import sqlalchemy_url

    name = f"ee_fresh_{secrets.token_hex(4)}"
    server = stack.env["DATABASE_URL"]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(sqlalchemy_url(_with_database(server, name)), **engine_kwargs)
    try:
        migrate(engine, revision)
        yield engine
    finally:
        engine.dispose()
        _drop_database(server, name)


def migrate(engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logging"] = False
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.fixture(scope="session")
def live_server(stack: Stack) -> Stack:
    return stack


def csrf_token(base_url: str, session_token: str | None = None) -> str:
    """The CSRF token the server hands this session cookie (or a visitor without one) on a read:
    tokens are bound to the session (effigies.api.csrf), a made-up one is refused."""
    cookies = {"ee_session": session_token} if session_token else {}
    with httpx.Client(base_url=base_url, timeout=30, cookies=cookies) as c:
        return c.get("/api/config").cookies["csrftoken"]


class ApiClient(httpx.Client):
    """An httpx client that behaves like our frontend: cookies, and the CSRF header echoed."""

    def request(self, method, url, **kwargs):
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            if "csrftoken" not in self.cookies:
                super().request("GET", "/api/config")
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRF-Token", self.cookies.get("csrftoken", ""))
            kwargs["headers"] = headers
        return super().request(method, url, **kwargs)


SIGNUP_LINK = re.compile(r"https?://\S+/#/signup/confirm\?token=([A-Za-z0-9_-]+)")


def signup_link(client: httpx.Client, email: str) -> str:
    """The token of the newest sign-up link the stack's SMTP sink received for this address."""
    response = client.get("/api/mail/outbox", params={"to": email})
    assert response.status_code == 200, response.text
    for message in response.json()["messages"]:  # newest first
        if found := SIGNUP_LINK.search(message["text"]):
            return found.group(1)
    raise AssertionError(f"no sign-up link was mailed to {email}")


def sign_up(client: httpx.Client, email: str, password: str, display_name: str = "Test", **extra) -> httpx.Response:
    """Sign up as a person does (effigies.accounts.signups): ask (202, "check your inbox"), open
    the link the real SMTP sink received, and be logged in. Returns the link's answer (200 and
    the user); the client then holds the session."""
    asked = client.post("/api/auth/signup", json={"email": email, "password": password, "display_name": display_name,
                                                  **extra})
    assert asked.status_code == 202, asked.text
    return client.post("/api/auth/signup/confirm", json={"token": signup_link(client, email.strip().lower())})


@pytest.fixture
def client(stack: Stack) -> Iterator[ApiClient]:
    with ApiClient(base_url=stack.url, timeout=30) as c:
        yield c


@pytest.fixture
def make_user(stack: Stack):
    """A real user, created through the accounts service, and a client logged in as them."""
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope

    clients: list[ApiClient] = []

    def factory(*, role: str = "user", balance_cents: int = 0) -> tuple[ApiClient, uuid.UUID]:
        email = f"user-{uuid.uuid4().hex[:10]}@players.effigies.fr"
        with session_scope() as session:
            user = accounts_service.signup(
                session=session, email=email, password="correct-horse-battery", display_name="Test", role=role
            )
            token = accounts_service.open_session(session=session, user=user)
            user_id = user.id
        if balance_cents:
            fund(user_id, balance_cents)
        c = ApiClient(base_url=stack.url, timeout=30)
        c.cookies.set("ee_session", token)
        clients.append(c)
        return c, user_id

    yield factory
    for c in clients:
        c.close()


def fund(user_id: uuid.UUID, amount_cents: int) -> None:
    from effigies.billing import service as billing_service
    from effigies.db import session_scope

    with session_scope() as session:
        billing_service.adjust(session=session, user_id=user_id, amount_cents=amount_cents, reason="test funds", admin_id=user_id)


def wait_generation(client: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/generations/{job_id}").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"generation {job_id} not finished after {timeout}s")


def within_one_window(check, window_s: int = 3600) -> None:
    """Rate limits count in fixed windows (effigies.api.ratelimit): run a budget check, and once
    more if it straddled a window boundary (its counts then fell into two windows)."""
    for _ in range(2):
        window = int(time.time() // window_s)
        check()
        if int(time.time() // window_s) == window:
            return
    pytest.fail("two window boundaries crossed in one check")


@pytest.fixture(scope="session")
def rgba_theme(stack: Stack) -> str:
    """A published theme whose generator draws RGBA (an untrained tiny one: its alpha is partial
    everywhere), with its weights where a finished training run leaves them; returns its slug."""
    from effigies.db import session_scope
    from effigies.gan.checkpoint import export_generator
    from effigies.gan.config import DCGANConfig
    from effigies.gan.model import build_models
    from effigies.themes.models import ModelVersion, Theme

    slug = f"rgba-{uuid.uuid4().hex[:8]}"
    weights_dir = f"data:models/{slug}/test"
    generator, _ = build_models(DCGANConfig(nc=4, ngf=8, ndf=8), seed=0)
    export_generator(generator, stack.data_dir / "models" / slug / "test")  # samples.png: its catalogue card
    with session_scope() as session:
        theme = Theme(slug=slug, name="Transparent test", status="published")
        session.add(theme)
        session.flush()
        version = ModelVersion(theme_id=theme.id, version=1, weights_dir=weights_dir, config={})
        session.add(version)
        session.flush()
        theme.current_model_version_id = version.id
    return slug


# Files measured long (`--durations`) beside those with a test marked slow.
LONG_FILES = {"ops/test_backup.py", "avatars/test_public_sizes.py", "gan/test_gan_dry_run.py", "hostile/test_schema.py",
              "hostile/test_authz.py", "uniqueness/test_index.py", "billing/test_support.py"}


def pytest_collection_modifyitems(config, items):
    """The long files first. pytest-xdist (--dist loadfile) hands files out in this order: a long
    file started last ends the run alone, one started first runs beside the many short ones."""
    tests_dir = Path(__file__).resolve().parent
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    slow |= {tests_dir / name for name in LONG_FILES}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file keeps its order
