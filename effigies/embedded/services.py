"""Which embedded servers to run, starting/stopping them as a group, and the data-dir lock."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from .local_secrets import load_local_secrets
from .localstripe import EmbeddedStripe, register_webhook
from .postgres import EmbeddedPostgres
from .smtp import EmbeddedSmtp
from .valkey import EmbeddedRedis

STRIPE_KEYS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PUBLISHABLE_KEY")

# Optional overrides of the embedded servers' preferred ports (0 = any free port).
PORT_ENV = {
    "postgres": ("EE_EMBEDDED_POSTGRES_PORT", EmbeddedPostgres.DEFAULT_PORT),
    "redis": ("EE_EMBEDDED_REDIS_PORT", EmbeddedRedis.DEFAULT_PORT),
    "stripe": ("EE_EMBEDDED_STRIPE_PORT", EmbeddedStripe.DEFAULT_PORT),
    "smtp": ("EE_EMBEDDED_SMTP_PORT", EmbeddedSmtp.DEFAULT_PORT),
}


class EmbeddedConfigError(RuntimeError):
    pass


class StopRequested(Exception):
    """Raised from a start-up wait when SIGINT/SIGTERM arrived meanwhile."""


@dataclass(frozen=True)
class Plan:
    postgres: bool
    redis: bool
    stripe: bool
    smtp: bool

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Plan:
        """Embed a server exactly when its variable(s) are missing (empty counts as missing)."""
        given = [k for k in STRIPE_KEYS if environ.get(k)]
        if given and len(given) != len(STRIPE_KEYS):
            missing = [k for k in STRIPE_KEYS if not environ.get(k)]
            raise EmbeddedConfigError(
                f"{', '.join(given)} set but {', '.join(missing)} not: set all of "
                f"{', '.join(STRIPE_KEYS)} (real Stripe), or none (embedded localstripe)"
            )
        return cls(
            postgres=not environ.get("DATABASE_URL"),
            redis=not environ.get("REDIS_URL"),
            stripe=not given,
            smtp=not environ.get("EE_SMTP_URL"),
        )


def _preferred_port(name: str, environ: Mapping[str, str], fixed_ports: bool) -> int | None:
    var, default = PORT_ENV[name]
    raw = environ.get(var)
    if raw:
        try:
            return int(raw)
        except ValueError as exc:
            raise EmbeddedConfigError(f"{var}={raw!r} is not a port number") from exc
    return default if fixed_ports else None


class EmbeddedServices:
    """Start the missing servers (postgres, redis, localstripe, smtp, in that order), stop in reverse."""

    def __init__(
        self,
        data_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        fixed_ports: bool = True,
        public_url: str | None = None,
        log: Callable[[str], None] = print,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.environ = dict(os.environ if environ is None else environ)
        self.plan = Plan.from_environ(self.environ)
        self.fixed_ports = fixed_ports
        self.public_url = public_url
        self.log = log
        self.should_stop = should_stop
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.stripe: EmbeddedStripe | None = None
        self.smtp: EmbeddedSmtp | None = None
        self.env: dict[str, str] = {}

    @property
    def running(self) -> list[tuple[str, EmbeddedPostgres | EmbeddedRedis | EmbeddedStripe | EmbeddedSmtp]]:
        servers = (("postgres", self.postgres), ("redis", self.redis), ("stripe", self.stripe), ("smtp", self.smtp))
        return [(n, s) for n, s in servers if s is not None]

    def _check_stop(self) -> None:
        if self.should_stop():
            raise StopRequested

    def start(self) -> dict[str, str]:
        """Start what is missing; returns the env vars the app needs to reach them."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.env
        if self.plan.postgres:
            self._check_stop()
            pg = self.postgres = EmbeddedPostgres(
                self.data_dir, port=_preferred_port("postgres", self.environ, self.fixed_ports), log=self.log)
            env["DATABASE_URL"] = pg.start()
        if self.plan.redis:
            self._check_stop()
            rd = self.redis = EmbeddedRedis(
                self.data_dir, port=_preferred_port("redis", self.environ, self.fixed_ports), log=self.log)
            env["REDIS_URL"] = rd.start()
        if self.plan.stripe:
            self._check_stop()
            secrets = load_local_secrets(self.data_dir)
            st = self.stripe = EmbeddedStripe(
                self.data_dir, port=_preferred_port("stripe", self.environ, self.fixed_ports), log=self.log)
            env["STRIPE_API_BASE"] = st.start()
            env["STRIPE_SECRET_KEY"] = st.secret_key
            env["STRIPE_PUBLISHABLE_KEY"] = st.publishable_key
            env["STRIPE_WEBHOOK_SECRET"] = secrets["STRIPE_WEBHOOK_SECRET"]
            if self.public_url:
                st.register_webhook(self.public_url, env["STRIPE_WEBHOOK_SECRET"])
        if self.plan.smtp:
            self._check_stop()
            mail = self.smtp = EmbeddedSmtp(
                self.data_dir, port=_preferred_port("smtp", self.environ, self.fixed_ports), log=self.log)
            env["EE_SMTP_URL"] = mail.start()
            # Only our own sink's messages are shown by the local mail outbox page.
            env["EE_MAIL_OUTBOX_DIR"] = str(mail.mail_dir)
        return dict(env)

    def failed(self) -> str | None:
        """A message if an embedded server we started has died, else None."""
        for name, server in self.running:
            if not server.is_running():
                return f"embedded {name} stopped unexpectedly (see {server.logfile})"
        return None

    def stop(self) -> None:
        """Stop in reverse order; each stop is attempted even if an earlier one fails."""
        errors = []
        for attr in ("smtp", "stripe", "redis", "postgres"):
            server = getattr(self, attr)
            if server is None:
                continue
            try:
                server.stop()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{attr}: {exc}")
            setattr(self, attr, None)
        if errors:
            self.log("errors while stopping embedded servers: " + "; ".join(errors))


@contextlib.contextmanager
def embedded_services(
    data_dir: Path | str,
    *,
    public_url: str | None = None,
    fixed_ports: bool = False,
    log: Callable[[str], None] = print,
    environ: Mapping[str, str] | None = None,
) -> Iterator[dict[str, str]]:
    """Start postgres + redis + localstripe + smtp (whichever os.environ lacks), yield their env vars, stop.

    The yielded dict has DATABASE_URL / REDIS_URL / STRIPE_API_BASE, STRIPE_SECRET_KEY,
    STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET / EE_SMTP_URL, EE_MAIL_OUTBOX_DIR for what
    was started (empty when nothing was). What is given is read from `environ` (default
    os.environ), which is not modified. Ports are free ones unless `fixed_ports`. With
    `public_url`, our webhook is registered in localstripe (else call
    `effigies.embedded.register_webhook(env["STRIPE_API_BASE"], public_url, secret)`).
    Holds the data-dir lock (`<data>/run/up.pid`), so it refuses a dir `effigies up` uses.
    """
    services = EmbeddedServices(Path(data_dir), environ=environ, fixed_ports=fixed_ports, public_url=public_url, log=log)
    with DataDirLock(services.data_dir, "embedded_services"):
        try:
            yield services.start()
        finally:
            services.stop()


__all__ = ["EmbeddedServices", "Plan", "embedded_services", "register_webhook", "DataDirLock", "DataDirBusy"]


# --------------------------------------------------------------------------- data-dir lock


class DataDirBusy(RuntimeError):
    def __init__(self, path: Path, holder: dict | None) -> None:
        self.holder = holder or {}
        pid = self.holder.get("pid")
        what = self.holder.get("what") or "another process"
        detail = f"{what} (pid {pid})" if pid else what
        cmd = self.holder.get("cmdline")
        msg = f"data dir {path.parent.parent} is in use by {detail}"
        if cmd:
            msg += f": {cmd}"
        if pid:
            msg += f". Stop it first (Ctrl-C in its terminal, or `kill {pid}`)"
        super().__init__(msg)


class DataDirLock:
    """An exclusive flock on `<data>/run/up.pid`, which also names the holder.

    The kernel drops the lock when its holder dies, even by SIGKILL, so a pid file left
    by a killed run is simply stale: we take the lock and overwrite it.
    """

    def __init__(self, data_dir: Path, what: str = "effigies up") -> None:
        self.path = Path(data_dir) / "run" / "up.pid"
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_json_fd(fd)
                os.close(fd)
                raise DataDirBusy(self.path, holder) from None
            # The previous holder may have unlinked the file between our open() and flock().
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        stale = _read_json_fd(fd)
        if stale and stale.get("pid") and stale.get("pid") != os.getpid():
            print(f"effigies: removing stale {self.path} (pid {stale.get('pid')} is gone)", file=sys.stderr)
        me = psutil.Process()
        data = {"pid": me.pid, "create_time": me.create_time(), "what": self.what,
                "cmdline": " ".join(me.cmdline())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(data) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_json_fd(fd: int) -> dict | None:
    try:
        raw = os.pread(fd, 65536, 0)
        data = json.loads(raw.decode() or "null")
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None
