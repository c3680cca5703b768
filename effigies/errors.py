"""The base of every domain's error type. The API turns them into {"error": {code, message}}."""
from __future__ import annotations


class DomainError(Exception):
    """A failure a person can understand; `status` is the HTTP status the API answers with, and
    `headers` any it must carry (Retry-After on a 429)."""

    status: int = 400

    def __init__(
        self, code: str, message: str, *, status: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        if status is not None:
            self.status = status


class NotFound(DomainError):
    status = 404
