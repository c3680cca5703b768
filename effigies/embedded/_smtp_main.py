"""`python -m effigies.embedded._smtp_main --port 8025 --dir <data>/mail`

The local mail server of `effigies up` and the test suite: a real SMTP server (aiosmtpd) that
delivers nowhere and writes every message it accepts, as received, to `<dir>/<time>-<id>.eml`.
The app's own mail outbox page (effigies.mail.outbox) and the tests read those files, so the
whole sign-up / verification / reset flow works offline through real SMTP.
"""
from __future__ import annotations

import argparse
import os
import signal
import threading
import time
import uuid
from pathlib import Path


class FileDelivery:
    """aiosmtpd handler: one .eml file per accepted message, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd's hook name
        now = time.time_ns()
        # Sorting the names sorts the messages by arrival (to the nanosecond within a second).
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 10**9))
        name = f"{stamp}.{now % 10**9:09d}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(envelope.original_content or envelope.content)
        os.replace(tmp, self.folder / name)  # readers never see half a message
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)

    from aiosmtpd.controller import Controller

    folder = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(FileDelivery(folder), hostname=args.host, port=args.port)
    controller.start()
    print(f"smtp sink on {args.host}:{args.port}, writing to {folder}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
