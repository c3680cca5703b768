"""The local mail outbox: what the embedded SMTP sink received (effigies.embedded._smtp_main).

Local mode only (settings refuse EE_MAIL_OUTBOX_DIR elsewhere): it shows every message, reset
links included, to whoever reaches this local server — what MailHog-style tools do, so a person
trying the shop offline can follow the e-mails. In production mail goes to a real relay.
"""
from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

from effigies.config import get_settings
from effigies.errors import NotFound

MAX_MESSAGES = 50


def enabled() -> bool:
    settings = get_settings()
    return settings.is_local and settings.mail_outbox_dir is not None


def messages(*, to: str | None = None, limit: int = MAX_MESSAGES) -> list[dict]:
    """Newest first: id, date, from, to, subject, text; `to` keeps one recipient's."""
    if not enabled():
        raise NotFound("not_found", "There is no local mail outbox on this server.")
    folder: Path = get_settings().mail_outbox_dir
    files = sorted(folder.glob("*.eml"), reverse=True) if folder.is_dir() else []
    found = []
    for path in files:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if to is not None and message["To"].strip().lower() != to.strip().lower():
            continue
        body = message.get_body(preferencelist=("plain",))
        found.append({
            "id": path.stem, "date": message["Date"], "to": message["To"],
            "subject": message["Subject"], "text": body.get_content() if body else "",
        })
        if len(found) >= limit:
            break
    return found
