"""Embedded mail server: the SMTP sink (_smtp_main) as a child process, messages in `<data>/mail`.

Nothing leaves the machine: every message the app sends is kept as an .eml file, listed by the
local mail outbox page. In production EE_SMTP_URL names a real relay and this is not started.
"""
from __future__ import annotations

import smtplib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ._proc import PidFile, choose_port, cmdline_has, kill_leftover, spawn, tail, terminate_tree, wait_until

MODULE = "effigies.embedded._smtp_main"


class EmbeddedSmtpError(RuntimeError):
    pass


def smtp_answers(host: str, port: int) -> bool:
    try:
        with smtplib.SMTP(host, port, timeout=2) as client:
            return client.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


class EmbeddedSmtp:
    DEFAULT_PORT = 8025

    def __init__(
        self, data_dir: Path, *, port: int | None = DEFAULT_PORT, host: str = "127.0.0.1",
        log: Callable[[str], None] = print,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.mail_dir = self.data_dir / "mail"
        self.logfile = self.data_dir / "log" / "smtp.log"
        self.pidfile = PidFile(self.data_dir / "run" / "smtp.pid", "smtp")
        self.host = host
        self.preferred_port = port
        self.port: int | None = None
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedSmtpError("not started")
        return f"smtp://{self.host}:{self.port}"

    def _is_ours(self, proc) -> bool:  # noqa: ANN001
        return cmdline_has(proc, MODULE, str(self.mail_dir))

    def start(self, timeout: float = 30.0) -> str:
        kill_leftover(self.pidfile, self._is_ours, log=self.log)
        self.port = choose_port(self.host, self.port or self.preferred_port)
        self.proc = spawn(
            [sys.executable, "-m", MODULE, "--host", self.host, "--port", str(self.port), "--dir", self.mail_dir],
            log_path=self.logfile,
        )
        self.pidfile.write(self.proc.pid)

        def died() -> str | None:
            if self.proc is not None and self.proc.poll() is not None:
                return f"smtp sink exited with code {self.proc.returncode} during start-up:\n{tail(self.logfile)}"
            return None

        try:
            wait_until(lambda: smtp_answers(self.host, self.port), timeout=timeout, interval=0.1, abort=died,
                       what="smtp sink")
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise EmbeddedSmtpError(str(exc)) from exc
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None:
            terminate_tree(self.proc.pid, timeout=timeout, popen=self.proc)
            self.proc = None
        else:
            kill_leftover(self.pidfile, self._is_ours, timeout=timeout, log=self.log)
        self.pidfile.remove()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
