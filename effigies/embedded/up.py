"""`effigies up`: everything needed for a local Effigies in one command.

1. resolve settings; take the data-dir lock (`<data>/run/up.pid`): refuse if a live
   `effigies up` holds it, silently take over a stale one;
2. stop leftovers of a SIGKILLed previous run (api/worker/valkey/localstripe named by
   pid files under `<data>/run/`, postgres via `postmaster.pid`);
3. start what the environment lacks: PostgreSQL, then Valkey, then localstripe, then the SMTP sink;
   local-mode secrets come from `<data>/secrets.json`;
4. `python -m effigies.cli db upgrade` (must exit 0);
5. spawn `... worker --beat` (queue generate) and `... api`, each in its own session/process group;
6. wait for GET /api/health == 200, spawn a train worker (queue train, one run at a time), print
   the banner;
7. supervise: a dead child stops everything (exit 1); SIGINT/SIGTERM stop the api,
   then the worker (SIGTERM to the whole group, SIGKILL after a timeout), then
   localstripe, Valkey and PostgreSQL (`pg_ctl stop -m fast`); exit 0.

`EE_UP_CLI_MODULE` (default `effigies.cli`) names the module run with `python -m` for
db upgrade / worker / api; it exists for tests of this file only.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ._proc import (
    PidFile, cmdline_has, http_status, kill_leftover, port_is_free, spawn, terminate_tree, who_listens,
)
from .services import DataDirBusy, DataDirLock, EmbeddedConfigError, EmbeddedServices, StopRequested
from .local_secrets import load_local_secrets

HEALTH_TIMEOUT_S = 180.0
UPGRADE_TIMEOUT_S = 600.0
# The train worker checkpoints the run it trains and puts it back in the queue before it exits.
STOP_TIMEOUTS_S = {"api": 10.0, "worker": 20.0, "worker-train": 30.0}
# What each child runs after `python -m <cli module>`; a leftover named by a pid file is stopped
# only when its command line still shows these words (the pid may belong to someone else by now).
CHILD_ARGS = {
    "worker": ["worker", "--beat"],
    "worker-train": ["worker", "--queues", "train", "--concurrency", "1"],
    "api": ["api"],
}


class UpError(RuntimeError):
    pass


def _timed_stop(name: str, stop, timings: list[str]) -> None:  # noqa: ANN001
    """Stop one thing; a failure is reported and does not keep the others running."""
    t = time.monotonic()
    try:
        stop()
    except Exception as exc:  # noqa: BLE001
        _say(f"could not stop {name}: {exc}")
    timings.append(f"{name} {time.monotonic() - t:.1f}s")


def _say(msg: str) -> None:
    print(f"effigies up: {msg}", file=sys.stderr, flush=True)


def _client_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class Child:
    def __init__(self, name: str, proc: subprocess.Popen[bytes], pidfile: PidFile) -> None:
        self.name, self.proc, self.pidfile = name, proc, pidfile

    def stop(self) -> None:
        terminate_tree(self.proc.pid, timeout=STOP_TIMEOUTS_S.get(self.name, 10.0), popen=self.proc)
        self.pidfile.remove()


class Up:
    def __init__(self) -> None:
        self.stop_signal: int | None = None
        self.children: list[Child] = []
        self.cli_module = "effigies.cli"  # EE_UP_CLI_MODULE, once run() has read the settings
        self.data_dir_for_cleanup: Path | None = None

    # -------------------------------------------------------------- signals

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
            _say(f"{signal.Signals(signum).name} received, stopping…")
        else:
            _say("already stopping; please wait")

    def _should_stop(self) -> bool:
        return self.stop_signal is not None

    def _check_stop(self) -> None:
        if self.stop_signal is not None:
            raise StopRequested

    # -------------------------------------------------------------- main

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        t0 = time.monotonic()

        from pydantic import ValidationError

        from effigies.config import Settings

        try:
            settings = Settings()
        except ValidationError as exc:
            raise UpError(f"invalid settings:\n{exc}") from exc
        self.cli_module = settings.up_cli_module
        data_dir = settings.data_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        run_dir = data_dir / "run"
        self.data_dir_for_cleanup = data_dir

        lock = DataDirLock(data_dir, "effigies up")
        try:
            lock.acquire()
        except DataDirBusy as exc:
            raise UpError(str(exc)) from exc

        services: EmbeddedServices | None = None
        rc = 0
        try:
            pidfiles = {n: PidFile(run_dir / f"{n}.pid", n) for n in CHILD_ARGS}
            for name, pf in pidfiles.items():
                kill_leftover(pf, lambda p, n=name: cmdline_has(p, self.cli_module, " ".join(CHILD_ARGS[n])),
                              timeout=STOP_TIMEOUTS_S[name], log=_say)

            env = dict(os.environ)
            env["EE_DATA_DIR"] = str(data_dir)
            env.setdefault("PYTHONUNBUFFERED", "1")
            host, port = settings.host, settings.port
            base_url = f"http://{_client_host(host)}:{port}"
            # The children's environment: what ours gave, completed (the settings say what it gave).
            env["EE_PUBLIC_URL"] = settings.public_url if settings.is_given("public_url") else base_url
            if not port_is_free(host or "0.0.0.0", port):
                raise UpError(f"port {port} on {host} is in use by {who_listens(port)}; "
                              f"stop it or set EE_PORT to another port")
            if settings.is_local and not settings.is_given("secret_key"):
                env["EE_SECRET_KEY"] = load_local_secrets(data_dir)["EE_SECRET_KEY"]

            try:
                services = EmbeddedServices(data_dir, environ=os.environ, fixed_ports=True,
                                            public_url=env["EE_PUBLIC_URL"], log=_say,
                                            should_stop=self._should_stop)
            except EmbeddedConfigError as exc:
                raise UpError(str(exc)) from exc
            if services.plan.stripe and settings.stripe_api_base:
                _say("no STRIPE_* keys set: ignoring STRIPE_API_BASE and starting the embedded localstripe")
            env.update(services.start())
            write_running_env(data_dir, {k: env[k] for k in RUNNING_ENV_KEYS if k in env})
            t_services = time.monotonic()

            self._db_upgrade(env)
            t_upgrade = time.monotonic()

            for name in ("worker", "api"):
                self._spawn_child(name, env, pidfiles)
            self._wait_healthy(f"{base_url}/api/health", services)
            # Only now: serving needs no train worker, and its start (torch) slows the API's on 2 cores.
            self._spawn_child("worker-train", env, pidfiles)
            t_ready = time.monotonic()
            self._banner(settings, data_dir, env, services, base_url, {
                "services": t_services - t0, "db upgrade": t_upgrade - t_services,
                "api ready": t_ready - t_upgrade, "total": t_ready - t0})
            rc = self._supervise(services)
        except StopRequested:
            rc = 0
        except UpError as exc:
            _say(str(exc))
            rc = 1
        except Exception as exc:  # noqa: BLE001 - report, clean up, exit non-zero
            _say(f"error: {exc}")
            rc = 1
        finally:
            # Our handlers stay installed: a second Ctrl-C only says "already stopping".
            if self.stop_signal is None:
                self.stop_signal = signal.SIGTERM
            self._shutdown(services)
            lock.release()
        return rc

    # -------------------------------------------------------------- steps

    def _db_upgrade(self, env: dict[str, str]) -> None:
        self._check_stop()
        proc = spawn([sys.executable, "-m", self.cli_module, "db", "upgrade"], env=env)
        deadline = time.monotonic() + UPGRADE_TIMEOUT_S
        while proc.poll() is None:
            if self.stop_signal is not None or time.monotonic() > deadline:
                terminate_tree(proc.pid, timeout=10, popen=proc)
                self._check_stop()
                raise UpError(f"`db upgrade` took longer than {UPGRADE_TIMEOUT_S:.0f}s")
            time.sleep(0.1)
        if proc.returncode != 0:
            raise UpError(f"`python -m {self.cli_module} db upgrade` failed with exit code {proc.returncode}")

    def _spawn_child(self, name: str, env: dict[str, str], pidfiles: dict[str, PidFile]) -> None:
        self._check_stop()
        proc = spawn([sys.executable, "-m", self.cli_module, *CHILD_ARGS[name]], env=env)
        pidfiles[name].write(proc.pid)
        self.children.append(Child(name, proc, pidfiles[name]))

    def _dead_child(self) -> str | None:
        for child in self.children:
            if child.proc.poll() is not None:
                return f"{child.name} exited with code {child.proc.returncode}"
        return None

    def _wait_healthy(self, url: str, services: EmbeddedServices) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            self._check_stop()
            dead = self._dead_child() or services.failed()
            if dead:
                raise UpError(f"{dead} before the API became healthy")
            if http_status("GET", url) == 200:
                return
            if time.monotonic() > deadline:
                raise UpError(f"{url} did not answer 200 within {HEALTH_TIMEOUT_S:.0f}s")
            time.sleep(0.2)

    def _supervise(self, services: EmbeddedServices) -> int:
        while self.stop_signal is None:
            dead = self._dead_child() or services.failed()
            if dead:
                _say(f"{dead}; stopping everything")
                return 1
            time.sleep(0.5)
        return 0

    def _shutdown(self, services: EmbeddedServices | None) -> None:
        timings: list[str] = []
        t_all = time.monotonic()
        if self.data_dir_for_cleanup is not None:
            (self.data_dir_for_cleanup / "run" / RUNNING_ENV_FILE).unlink(missing_ok=True)
        for child in reversed(self.children):
            _timed_stop(child.name, child.stop, timings)
        self.children.clear()
        if services is not None:
            for name, server in reversed(services.running):
                _timed_stop(name, server.stop, timings)
                setattr(services, name, None)
        _say(f"stopped in {time.monotonic() - t_all:.1f}s ({', '.join(timings) or 'nothing to stop'})")

    def _banner(self, settings, data_dir: Path, env: dict[str, str], services: EmbeddedServices,  # noqa: ANN001
                base_url: str, timings: dict[str, float]) -> None:
        def origin(embedded: bool) -> str:
            return "embedded" if embedded else "external"

        def redact(url: str) -> str:
            from urllib.parse import urlsplit, urlunsplit

            parts = urlsplit(url)
            if parts.password:
                netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
                return urlunsplit(parts._replace(netloc=netloc))
            return url

        plan = services.plan
        stripe = (f"localstripe {env.get('STRIPE_API_BASE')}" if plan.stripe
                  else ("Stripe API " + (env.get("STRIPE_API_BASE") or "(api.stripe.com)")))
        lines = [
            "",
            f"  Effigies Edification is up:  {base_url}/",
            "",
            f"  data dir   {data_dir}",
            f"  postgres   {origin(plan.postgres):9} {redact(env.get('DATABASE_URL', ''))}",
            f"  redis      {origin(plan.redis):9} {redact(env.get('REDIS_URL', ''))}",
            f"  stripe     {origin(plan.stripe):9} {stripe}",
        ]
        if plan.stripe:
            lines.append("             test card 4242 4242 4242 4242, any future date, any CVC")
        mail = (f"smtp sink {env.get('EE_SMTP_URL')}, outbox {base_url}/#/mail" if plan.smtp
                else redact(env.get("EE_SMTP_URL", "")))
        lines.append(f"  mail       {origin(plan.smtp):9} {mail}")
        if settings.admin_email:
            lines.append(f"  admin      {settings.admin_email}")
        lines += [
            "  started in " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()),
            "",
            "  Ctrl-C stops everything.",
            "",
        ]
        print("\n".join(lines), flush=True)


# What other commands on this machine need to reach a running `effigies up`'s servers (`effigies
# admin create`, backup, reconcile...): written once they are up, removed at shutdown; 0600, as the
# URLs of a local stack may carry its passwords.
RUNNING_ENV_FILE = "services.json"
RUNNING_ENV_KEYS = ("DATABASE_URL", "REDIS_URL", "EE_SMTP_URL", "STRIPE_API_BASE", "STRIPE_SECRET_KEY",
                    "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET", "EE_SECRET_KEY", "EE_PUBLIC_URL")


def write_running_env(data_dir: Path, env: dict[str, str]) -> None:
    path = data_dir / "run" / RUNNING_ENV_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(env, out)
    os.replace(tmp, path)


def read_running_env(data_dir: Path) -> dict[str, str] | None:
    """The servers of the `effigies up` running on this data dir, or None when none runs."""
    path = Path(data_dir).expanduser().resolve() / "run" / RUNNING_ENV_FILE
    if not path.is_file():
        return None
    probe = DataDirLock(Path(data_dir).expanduser().resolve(), "probe")
    try:
        probe.acquire()  # succeeds only when no `up` holds the data dir: the file is a leftover
    except DataDirBusy:  # an `up` holds it: its file is current
        return json.loads(path.read_text())
    probe.release()
    return None


def run_up() -> int:
    """Body of `effigies up`; returns the process exit code."""
    try:
        return Up().run()
    except UpError as exc:
        _say(str(exc))
        return 1
