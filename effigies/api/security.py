"""CSRF (a double-submit cookie bound to the session, effigies.api.csrf, and an Origin check) and
security headers, for every request.

Headers: a Content-Security-Policy that allows this origin only, plus Stripe's (js.stripe.com,
its frames and API when live; localstripe's origin locally), and no framing by anyone
(frame-ancestors 'none', X-Frame-Options DENY); HSTS once the site is served over HTTPS (the
same switch as Secure cookies); `Cache-Control: no-store` on every JSON answer of the API that
does not say otherwise (most are someone's own data: wallet, account, proposals)."""
from __future__ import annotations

import sys
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from effigies.api import csrf
from effigies.api.deps import CSRF_COOKIE, SESSION_COOKIE
from effigies.api.errors import error_response
from effigies.config import get_settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# The webhook is called by Stripe's servers, authenticated by signature instead. Verifying a
# certificate reads no cookie and changes nothing, so anyone may POST one (curl, scripts).
CSRF_EXEMPT = {"/api/stripe/webhook", "/api/verify"}
MAX_BODY_BYTES = 1_000_000
TOO_LARGE = "This request is too large."
# An admin uploads a new theme's example images as one zip (effigies.themes.admin_router):
# up to 10,000 images (the archive's entry cap) at ~20 KB each. Streamed to a temporary
# file there, and read only once the admin gate has passed.
THEME_UPLOAD_BYTES = 200_000_000
UPLOAD_BODY_BYTES = {"/api/admin/themes": THEME_UPLOAD_BYTES}

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
# FastAPI's Swagger UI page loads its script and style from jsDelivr (local and test only: the
# page is off in production, effigies.api.app).
DOCS_PATH = "/api/docs"
DOCS_CDN = "https://cdn.jsdelivr.net"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(*, stripe_api_base: str | None, docs: bool = False) -> str:
    """The policy of every page and answer. Stripe.js is the only foreign script: Stripe's own
    origins when live (https://docs.stripe.com/security/guide#content-security-policy),
    localstripe's shim and API (one origin) when STRIPE_API_BASE points at it."""
    if stripe_api_base:
        local = _origin(stripe_api_base)
        script, connect, frame = local, local, local
    else:
        script, connect, frame = "https://js.stripe.com", "https://api.stripe.com", "https://js.stripe.com https://hooks.stripe.com"
    if docs:  # the Swagger UI page: its CDN, and the inline script that starts it
        script = f"{script} {DOCS_CDN} 'unsafe-inline'"
    style = f"'self' {DOCS_CDN}" if docs else "'self'"
    return "; ".join([
        "default-src 'self'", f"script-src 'self' {script}", f"style-src {style}", "img-src 'self' data: blob:",
        "font-src 'self'", f"connect-src 'self' {connect}", f"frame-src {frame}", "frame-ancestors 'none'",
        "base-uri 'none'", "form-action 'self'", "object-src 'none'",
    ])


def security_headers(*, path: str) -> list[tuple[bytes, bytes]]:
    settings = get_settings()
    headers = list(SECURITY_HEADERS)
    policy = content_security_policy(stripe_api_base=settings.stripe_api_base, docs=path == DOCS_PATH)
    headers.append((b"content-security-policy", policy.encode("latin-1")))
    if settings.cookie_secure:
        headers.append(HSTS)
    return headers


def _cookies(scope: Scope) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            cookie = SimpleCookie()
            try:
                cookie.load(value.decode("latin-1"))
            except Exception:
                continue
            jar.update({k: m.value for k, m in cookie.items()})
    return jar


def _declared_length(headers: dict[str, str]) -> int:
    try:
        return int(headers.get("content-length") or 0)
    except ValueError:
        return sys.maxsize  # a malformed length is refused like an oversized one


def _limited(receive: Receive, limit: int) -> Receive:
    """Counts the body bytes as the app reads them: a chunked body declares no length to check up
    front. Past the limit the read fails with a 413, which the app's handlers answer in JSON."""
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, TOO_LARGE)
        return message

    return receive_limited


def _origin_allowed(origin: str, host: str | None) -> bool:
    """The configured public URL's origin; the Host header too in local mode only (`effigies up`
    on a laptop, reached as 127.0.0.1 or localhost): anywhere else Host is whatever the client
    says, and trusting it let a forged Host vouch for a foreign Origin."""
    settings = get_settings()
    public = urlsplit(settings.public_url)
    parts = urlsplit(origin)
    if (parts.scheme, parts.netloc) == (public.scheme, public.netloc):
        return True
    return settings.env == "local" and bool(host) and parts.netloc == host


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method, path = scope["method"], scope["path"]
        limit = UPLOAD_BODY_BYTES.get(path, MAX_BODY_BYTES)
        if method not in SAFE_METHODS and _declared_length(headers) > limit:
            await error_response(413, "payload_too_large", TOO_LARGE)(scope, receive, send)
            return
        if method not in SAFE_METHODS:
            receive = _limited(receive, limit)
        if method not in SAFE_METHODS and path not in CSRF_EXEMPT:
            origin = headers.get("origin")
            if origin and not _origin_allowed(origin, headers.get("host")):
                await error_response(403, "csrf_failed", "This request came from another site and was refused.")(scope, receive, send)
                return
            jar = _cookies(scope)
            cookie, sent = jar.get(CSRF_COOKIE, ""), headers.get("x-csrf-token", "")
            if cookie != sent or not csrf.valid(sent, jar.get(SESSION_COOKIE)):
                await error_response(
                    403, "csrf_failed", "Security check failed: reload the page and try again."
                )(scope, receive, send)
                return

        extra = security_headers(path=path)
        # Hand out the CSRF cookie on page and API reads when it is missing or not this session's
        # (issued before log-in, or for a session since closed), so the next POST can echo it;
        # never on the public avatar images, which CDNs must be able to cache.
        if path == "/" or path.startswith("/api/"):
            jar = _cookies(scope)
            if not csrf.valid(jar.get(CSRF_COOKIE, ""), jar.get(SESSION_COOKIE)):
                secure = "; Secure" if get_settings().cookie_secure else ""
                token = csrf.issue(jar.get(SESSION_COOKIE))
                cookie = f"{CSRF_COOKIE}={token}; Path=/; SameSite=Lax; Max-Age=31536000{secure}"
                extra.append((b"set-cookie", cookie.encode("latin-1")))

        api = path.startswith("/api/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                own = list(message.get("headers", []))
                names = {k.lower() for k, _ in own}
                json_answer = any(k.lower() == b"content-type" and v.startswith(b"application/json") for k, v in own)
                if api and json_answer and b"cache-control" not in names:
                    own.append((b"cache-control", b"no-store"))
                message["headers"] = own + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
