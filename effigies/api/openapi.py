"""What /openapi.json promises about errors: every status a route can answer, with the body it has.

Every error leaves the API as {"error": {"code", "message"}} (effigies.api.errors), so one schema
serves them all. The statuses that come from shared machinery (log-in and admin gates, CSRF, the
body limit, validation, a database or queue outage) are declared here, once, from what each route
depends on; a route declares only its own domain's refusals, with `errors(…)` in its decorator.
tests/hostile/test_schema.py fuzzes the live app and fails on any status or body not declared.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict

from effigies.api.deps import current_user, require_admin
from effigies.api.security import CSRF_EXEMPT, SAFE_METHODS


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    # Some refusals carry more than code and message (a theme upload's per-file report).
    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    details: list[FieldProblem] | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


DESCRIPTIONS = {
    400: "Bad request (unreadable body, or a refusal the message explains)",
    401: "Not logged in, or wrong credentials",
    402: "Not enough money in the wallet",
    403: "Forbidden: not an administrator, or the CSRF check failed",
    404: "No such object, or not yours",
    409: "Conflicts with the current state",
    410: "Gone: expired or retired",
    413: "Request body too large",
    415: "The body must be JSON",
    422: "Invalid input",
    429: "Too many attempts: wait Retry-After seconds",
    503: "A part of the service is briefly unavailable",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route decorator: the refusals of this route's own domain."""
    return {status: {"model": ErrorOut, "description": DESCRIPTIONS[status]} for status in statuses}


def content(media_type: str, description: str = "Successful Response") -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route answering 200 with a file or stream rather than JSON."""
    return {200: {"description": description, "content": {media_type: {}}}}


def _calls(route) -> set:
    found, todo = set(), list(route.dependant.dependencies)
    while todo:
        dependency = todo.pop()
        found.add(dependency.call)
        todo.extend(dependency.dependencies)
    return found


def shared_statuses(route) -> set[int]:
    """The statuses a route can answer whatever its domain, from what it depends on."""
    # Any route may find the database or Redis down (errors.install answers 503).
    statuses = {503}
    calls = _calls(route)
    if current_user in calls or require_admin in calls:
        statuses.add(401)
    if require_admin in calls:
        statuses.add(403)
    if (route.methods or set()) - SAFE_METHODS:
        statuses.add(413)  # SecurityMiddleware's body limit
        if route.path_format not in CSRF_EXEMPT:
            statuses.add(403)  # csrf_failed
    params = route.dependant
    if params.path_params:
        statuses.update({404, 422})
    if params.query_params or params.header_params or params.cookie_params or route.body_field is not None:
        statuses.add(422)
    if route.body_field is not None:
        statuses.update({400, 415})  # a body that is not UTF-8 JSON at all; a form or text, not JSON
    return statuses


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


def document_errors(app: FastAPI) -> None:
    """Declare the shared error statuses of every API route in the generated document.

    A route's own `responses` win; FastAPI's default 422 (a {"detail": […]} body we never send)
    is replaced by ours. Done on the generated document, once every router is included."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # cached by FastAPI; the changes below are idempotent
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        defs = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(defs.pop("$defs"))
        schemas["ErrorOut"] = defs
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = document["paths"][route.path_format].get(method.lower())
                if operation is None:
                    continue
                responses = operation["responses"]
                for status in sorted(shared_statuses(route)):
                    response = responses.setdefault(str(status), _error_response(status))
                    if _is_fastapi_validation_error(response):
                        responses[str(status)] = _error_response(status)
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        return document

    app.openapi = openapi


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref") == "#/components/schemas/HTTPValidationError"
