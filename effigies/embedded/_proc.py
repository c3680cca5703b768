"""Process plumbing shared by the embedded servers and `effigies up`.

Everything here is about not leaving orphans behind and recognising the ones a
SIGKILLed previous run did leave: every child we spawn gets its own session
(so a terminal's Ctrl-C reaches only `effigies up`, which then stops children
in order), a parent-death signal (Linux: if `up` is SIGKILLed, its direct
children get SIGTERM), and a JSON pid file under `<data>/run/` holding pid and
create time, so a later run can tell "our leftover" from "an unrelated process
that reused the pid".
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import psutil

PR_SET_PDEATHSIG = 1


def _pdeathsig_preexec(parent_pid: int, sig: int) -> Callable[[], None]:
    """preexec_fn: ask the kernel to send `sig` when our parent dies (Linux only)."""
    libc = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
            # The parent may have died between fork() and prctl(): then nobody will signal us.
            if os.getppid() != parent_pid:
                os._exit(1)

    return preexec


def spawn(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    log_path: Path | None = None,
    pdeathsig: int | None = signal.SIGTERM,
    **popen_kwargs: object,
) -> subprocess.Popen[bytes]:
    """Start a child in its own session (process group == its pid).

    Output goes to `log_path` (appended) when given, else to our own stdout/stderr.
    `popen_kwargs` (user/group/extra_groups) are applied before the parent-death signal is
    set, which matters: changing credentials clears it.
    """
    stdout: int | None | object = None
    log_file = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(log_path, "ab")  # noqa: SIM115 - the child keeps its own copy
        stdout = log_file
    try:
        return subprocess.Popen(
            [str(a) for a in args],
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT if log_file is not None else None,
            start_new_session=True,
            preexec_fn=_pdeathsig_preexec(os.getpid(), pdeathsig) if pdeathsig else None,
            **popen_kwargs,  # type: ignore[arg-type]
        )
    finally:
        if log_file is not None:
            log_file.close()


# --------------------------------------------------------------------------- pid files


class PidFile:
    """`{"pid": ..., "create_time": ..., "what": ...}` in a small JSON file.

    `live()` returns the psutil.Process only if that very process (same pid *and*
    same start time) is still running, so pid reuse never makes us kill a stranger.
    """

    def __init__(self, path: Path, what: str = "") -> None:
        self.path = path
        self.what = what or path.stem

    def write(self, pid: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.Error:
            create_time = None
        data = {"pid": pid, "create_time": create_time, "what": self.what}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data) + "\n")
        os.replace(tmp, self.path)

    def read(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None

    def live(self) -> psutil.Process | None:
        data = self.read()
        if data is None:
            return None
        try:
            proc = psutil.Process(data["pid"])
            ct = data.get("create_time")
            if ct is not None and abs(proc.create_time() - float(ct)) > 0.05:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


# --------------------------------------------------------------------------- stopping


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (empty if it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def terminate_tree(
    pid: int,
    *,
    timeout: float = 10.0,
    sig: int = signal.SIGTERM,
    popen: subprocess.Popen | None = None,
) -> None:
    """Stop a child started by `spawn` and everything under it.

    Sends `sig` to its process group (uvicorn, celery and billiard's pool children all
    share it), waits up to `timeout`, then SIGKILLs the group and any descendant that
    escaped into another group. Reaps `popen` so no zombie is left.
    """
    procs = process_tree(pid)
    try:
        pgid: int | None = os.getpgid(pid)
    except ProcessLookupError:
        # Our own child (not reaped yet, so its pid cannot have been reused) was spawned as a
        # session leader: its group may outlive it (e.g. celery's pool after the main died).
        pgid = pid if popen is not None else None
    groups = {pgid} if pgid and pgid != os.getpgid(0) else set()
    if groups:
        for g in groups:
            _killpg(g, sig)
    else:
        for p in procs[:1]:
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            popen.poll()
        if not any(_alive(p) for p in procs):
            break
        time.sleep(0.05)
    else:
        for g in groups:
            _killpg(g, signal.SIGKILL)
    # Whatever is still there (including descendants that left the group) gets SIGKILL.
    for p in procs:
        if _alive(p):
            with contextlib.suppress(psutil.Error):
                p.kill()
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
    psutil.wait_procs([p for p in procs if _alive(p)], timeout=5)


def kill_leftover(pidfile: PidFile, matches: Callable[[psutil.Process], bool], *, timeout: float = 10.0,
                  log: Callable[[str], None] = print) -> bool:
    """If `pidfile` names a live process that `matches`, stop it (and its tree). Always drops the file."""
    proc = pidfile.live()
    killed = False
    if proc is not None:
        try:
            ok = matches(proc)
        except psutil.Error:
            ok = False
        if ok:
            log(f"stopping leftover {pidfile.what} (pid {proc.pid}) from a previous run")
            terminate_tree(proc.pid, timeout=timeout)
            killed = True
    pidfile.remove()
    return killed


def cmdline_has(proc: psutil.Process, *needles: str) -> bool:
    try:
        line = " ".join(proc.cmdline())
    except psutil.Error:
        return False
    return all(n in line for n in needles)


# --------------------------------------------------------------------------- ports


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def choose_port(host: str, preferred: int | None, avoid: Iterable[int] = ()) -> int:
    """`preferred` if it is free, else any free port. `preferred` None/0 → any free port."""
    avoid = set(avoid)
    if preferred and preferred not in avoid and port_is_free(host, preferred):
        return preferred
    while True:
        port = free_port(host)
        if port not in avoid:
            return port


def who_listens(port: int) -> str:
    """Best-effort 'pid N (name)' of whoever listens on `port` (needs privileges for others' sockets)."""
    try:
        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
                try:
                    return f"pid {c.pid} ({' '.join(psutil.Process(c.pid).cmdline()[:3])})"
                except psutil.Error:
                    return f"pid {c.pid}"
    except (psutil.Error, OSError):
        pass
    return "another process"


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.05,
               abort: Callable[[], str | None] | None = None, what: str = "condition") -> None:
    """Poll `check` until true. `abort()` returning a message stops early with RuntimeError."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if abort is not None:
            msg = abort()
            if msg:
                raise RuntimeError(msg)
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(method: str, url: str, body: dict | None = None, timeout: float = 2.0) -> int:
    """Status code of a request to one of our local servers; 0 when unreachable.

    Never through a proxy: HTTP(S)_PROXY from a developer's shell must not capture 127.0.0.1.
    """
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with _NO_PROXY_OPENER.open(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
