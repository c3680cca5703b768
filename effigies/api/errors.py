"""Every error leaves the API as {"error": {"code", "message"}} with a fitting status."""
from __future__ import annotations

import logging

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from effigies.db import DatabaseNotConfigured
from effigies.errors import DomainError
from effigies.monitoring.metrics import RECORDER

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers)


def _field(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path"))


def _allowed_methods(request: Request) -> set[str]:
    """A 405 must list what the path allows (Allow, RFC 9110). Starlette names only the methods of
    the first route whose path matched, and GET /api/me and PATCH /api/me are two routes."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex, route_methods = getattr(route, "path_regex", None), route.methods
        if regex is not None and route_methods and regex.match(request.url.path):
            methods |= route_methods
    return methods


def _problem(error: dict) -> dict[str, str]:
    if error.get("type") == "json_invalid":  # its loc is ("body", <character offset>), not a field
        reason = (error.get("ctx") or {}).get("error", "")
        return {"field": "", "message": f"The body is not valid JSON ({reason}, at character {error['loc'][-1]})."}
    return {"field": _field(tuple(error.get("loc", ()))), "message": error.get("msg", "")}


def _sent_other_than_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type:
        return request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    return content_type != "application/json" and not content_type.endswith("+json")


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError):
        if exc.status == 429:  # throttles are watched: card testing, floods (GET /metrics)
            RECORDER.inc("ee_throttled_total", (("code", exc.code),))
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        if _sent_other_than_json(request) and any(tuple(e.get("loc", ())) == ("body",) for e in exc.errors()):
            # A JSON route got a form, a file or plain text: say so, rather than "not an object".
            return error_response(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
        details = [_problem(e) for e in exc.errors()]
        first = details[0] if details else {"field": "", "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return error_response(422, "invalid_request", message, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        allowed = _allowed_methods(request) if exc.status_code in (404, 405) else set()
        if exc.status_code == 404 and allowed and request.method not in allowed:
            # The path is an API route's, the method is not: the frontend's catch-all mount said 404.
            return error_response(
                405, "method_not_allowed", "Method Not Allowed", headers={"Allow": ", ".join(sorted(allowed))}
            )
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and allowed:
            headers["Allow"] = ", ".join(sorted(allowed))
        return error_response(exc.status_code, code, message, headers=headers or None)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DatabaseNotConfigured)
    async def database_down(_: Request, exc: Exception):
        log.error("database unavailable: %s", exc)
        return error_response(503, "database_unavailable", "Our database is briefly unavailable. Please try again in a moment.")

    @app.exception_handler(redis.RedisError)
    async def redis_down(_: Request, exc: Exception):
        log.error("redis unavailable: %s", exc)
        return error_response(503, "service_unavailable", "Part of our service is briefly unavailable. Please try again in a moment.")

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, exc: DBAPIError):
        if exc.connection_invalidated:
            return error_response(503, "database_unavailable", "Our database is briefly unavailable. Please try again in a moment.")
        if isinstance(exc, DataError) and "NUL (0x00)" in str(exc.orig):
            # The driver refuses the value before it is sent: only input can hold a NUL byte. Each
            # form refuses control characters itself; this answers for any field that does not.
            log.warning("NUL byte in input refused by the database driver")
            return error_response(422, "invalid_request", "Text must not contain NUL characters.")
        log.exception("database error")
        return error_response(500, "internal_error", "Something went wrong on our side. Nothing was charged.")

    @app.exception_handler(UnicodeEncodeError)
    async def unencodable_text(_: Request, exc: UnicodeEncodeError):
        if exc.reason == "surrogates not allowed":
            # JSON may escape half a character ("\ud800"); no UTF-8 store or hash can take it.
            # Forms refuse it themselves (effigies.text); this answers for any field that does not.
            log.warning("lone surrogate in input: %s", exc)
            return error_response(422, "invalid_request", "Text must be valid Unicode.")
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "Something went wrong on our side. Nothing was charged.")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "Something went wrong on our side. Nothing was charged.")
