"""Embedded fake Stripe: localstripe as a child process, store kept in `<data>/localstripe`.

localstripe keeps registered webhooks in memory only, so `start()` (re-)registers ours
every time: `POST {base}/_config/webhooks/effigies` with our webhook URL and secret.
Any `sk_test_...` key is accepted; we use fixed, obviously-local ones.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ._proc import (
    PidFile, choose_port, cmdline_has, http_status, kill_leftover, spawn, tail, terminate_tree, wait_until,
)

LOCAL_SECRET_KEY = "sk_test_local_effigies"
LOCAL_PUBLISHABLE_KEY = "pk_test_local_effigies"
WEBHOOK_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]
MODULE = "effigies.embedded._localstripe_main"


class EmbeddedStripeError(RuntimeError):
    pass


class EmbeddedStripe:
    DEFAULT_PORT = 8420

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = DEFAULT_PORT,
        host: str = "127.0.0.1",
        log: Callable[[str], None] = print,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.store = self.data_dir / "localstripe" / "store.pickle"
        self.logfile = self.data_dir / "log" / "localstripe.log"
        self.pidfile = PidFile(self.data_dir / "run" / "localstripe.pid", "localstripe")
        self.host = host
        self.preferred_port = port
        self.port: int | None = None
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.secret_key = LOCAL_SECRET_KEY
        self.publishable_key = LOCAL_PUBLISHABLE_KEY

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedStripeError("not started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _is_ours(self, proc) -> bool:  # noqa: ANN001
        return cmdline_has(proc, MODULE, str(self.store))

    def start(self, timeout: float = 30.0) -> str:
        kill_leftover(self.pidfile, self._is_ours, log=self.log)
        self.port = choose_port(self.host, self.preferred_port)
        self.proc = spawn(
            [sys.executable, "-m", MODULE, "--host", self.host, "--port", str(self.port), "--store", self.store],
            log_path=self.logfile,
        )
        self.pidfile.write(self.proc.pid)

        def died() -> str | None:
            if self.proc is not None and self.proc.poll() is not None:
                return f"localstripe exited with code {self.proc.returncode} during start-up:\n{tail(self.logfile)}"
            return None

        try:
            wait_until(lambda: http_status("GET", f"{self.url}/js.stripe.com/v3/") == 200,
                       timeout=timeout, interval=0.1, abort=died, what="localstripe")
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise EmbeddedStripeError(str(exc)) from exc
        return self.url

    def register_webhook(self, public_url: str, secret: str, *, name: str = "effigies") -> None:
        """(Re-)register our webhook endpoint; localstripe forgets it on every restart."""
        register_webhook(self.url, public_url, secret, name=name)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None:
            terminate_tree(self.proc.pid, timeout=timeout, popen=self.proc)
            self.proc = None
        else:
            kill_leftover(self.pidfile, self._is_ours, timeout=timeout, log=self.log)
        self.pidfile.remove()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def register_webhook(api_base: str, public_url: str, secret: str, *, name: str = "effigies") -> None:
    body = {
        "url": public_url.rstrip("/") + "/api/stripe/webhook",
        "secret": secret,
        "events": WEBHOOK_EVENTS,
    }
    status = http_status("POST", f"{api_base.rstrip('/')}/_config/webhooks/{name}", body, timeout=5)
    if status != 200:
        raise EmbeddedStripeError(f"localstripe at {api_base} refused the webhook registration (HTTP {status})")
