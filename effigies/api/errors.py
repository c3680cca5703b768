"""Every error leaves the API as {"error": {"code", "message"}} with a fitting status."""
from __future__ import annotations

import logging

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from effigies.db import DatabaseNotConfigured
from effigies.errors import DomainError

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


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError):
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        details = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in exc.errors()]
        first = details[0] if details else {"field": "", "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return error_response(422, "invalid_request", message, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DatabaseNotConfigured)
    async def database_down(_: Request, exc: Exception):
        log.error("database unavailable: %s", exc)
        return error_response(503, "database_unavailable", "Our database is briefly unavailable. Please try again in a moment.")

    @app.exception_handler(redis.RedisError)
    async def redis_down(_: Request, exc: Exception):
        log.error("redis unavailable: %s", exc)
        return error_response(503, "queue_unavailable", "Part of our service is briefly unavailable. Please try again in a moment.")

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, exc: DBAPIError):
        if exc.connection_invalidated:
            return error_response(503, "database_unavailable", "Our database is briefly unavailable. Please try again in a moment.")
        log.exception("database error")
        return error_response(500, "internal_error", "Something went wrong on our side. Nothing was charged.")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "Something went wrong on our side. Nothing was charged.")
