"""Outgoing mail: one template per message, in French and English, sent through SMTP.

A message is sent while the request that needs it is still open: when the relay cannot take it,
MailError (503 mail_unavailable) ends the request and its transaction is rolled back, so nothing
is half-done (no account without its verification e-mail, no reset token nobody received). The
person tries again; nothing is queued behind their back.
"""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from string import Template
from urllib.parse import parse_qs, unquote, urlsplit

from effigies.config import Settings, get_settings
from effigies.errors import DomainError

TEMPLATES_DIR = Path(__file__).parent / "templates"
LOCALES = ("fr", "en")
SMTP_TIMEOUT_S = 10
RETRY_AFTER_S = 60


class MailError(DomainError):
    pass


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    tls: bool  # smtps: TLS from the first byte
    starttls: str  # "auto" (when offered) or "required"
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Relay:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("EE_SMTP_URL must look like smtp://[user:password@]host[:port] or smtps://...")
        starttls = parse_qs(parts.query).get("starttls", ["auto"])[0]
        if starttls not in ("auto", "required"):
            raise ValueError("EE_SMTP_URL's starttls must be auto or required")
        return cls(
            host=parts.hostname, port=parts.port or (465 if parts.scheme == "smtps" else 25),
            tls=parts.scheme == "smtps", starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def render(template: str, locale: str, values: dict[str, str]) -> tuple[str, str]:
    """(subject, body) of templates/<template>.<locale>.txt: its first line is "Subject: ...",
    then a blank line, then the body; $name placeholders are filled from `values`."""
    locale = locale if locale in LOCALES else LOCALES[0]
    raw = (TEMPLATES_DIR / f"{template}.{locale}.txt").read_text(encoding="utf-8")
    head, _, body = raw.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"mail template {template}.{locale} must start with a Subject: line")
    return (Template(head.removeprefix("Subject: ").strip()).substitute(values),
            Template(body).substitute(values).rstrip() + "\n")


def build(*, to: str, template: str, locale: str, values: dict[str, str], settings: Settings) -> EmailMessage:
    subject, body = render(template, locale, {"site": settings.public_url.rstrip("/"), **values})
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "effigies.local"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message.set_content(body)
    message["Content-Language"] = locale  # after set_content, which replaces every Content-* header
    return message


def send(*, to: str, template: str, locale: str, **values: str) -> None:
    """Render and hand over one message; MailError (503) when no relay takes it."""
    settings = get_settings()
    message = build(to=to, template=template, locale=locale, values=values, settings=settings)
    if settings.smtp_url is None:
        raise MailError("mail_unavailable", "E-mail cannot be sent right now (no mail server configured).",
                        status=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    relay = Relay.from_url(settings.smtp_url.get_secret_value())
    try:
        _deliver(relay, message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(
            "mail_unavailable",
            "Our mail server cannot send e-mail right now; nothing was changed. Please try again in a minute.",
            status=503, headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from exc


def _deliver(relay: Relay, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    if relay.tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(relay.host, relay.port, timeout=SMTP_TIMEOUT_S, context=context)
    else:
        client = smtplib.SMTP(relay.host, relay.port, timeout=SMTP_TIMEOUT_S)
    with client:
        client.ehlo()
        if not relay.tls and (client.has_extn("starttls") or relay.starttls == "required"):
            client.starttls(context=context)  # raises when "required" and not offered
            client.ehlo()
        if relay.username:
            client.login(relay.username, relay.password or "")
        client.send_message(message)
