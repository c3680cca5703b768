"""GET/HEAD /a/{public_id}.png?s=N: the public avatar URL, answered before FastAPI's routing.

This is the URL that game profiles and e-mail signatures hotlink, so it takes far more traffic
than the rest of the API. Through FastAPI (routing, a DB session dependency, FileResponse's stat
and thread per request) one process served 444 req/s with a p99 of 334 ms. Here a variant
already in memory costs a dict lookup and two `send` calls; a miss reads the disk cache, or
renders the variant with the one implementation (`service.scaled_image`), in a thread.

Pure ASGI, no FastAPI: it must not depend on the session/CSRF machinery, and it must never set
a cookie (CDNs do not cache responses that do). A sold image never changes, so every variant is
cacheable forever, anywhere, and validated by a strong ETag computed from its bytes (the same in
every API process, since the bytes come from the same disk file).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from typing import NamedTuple
from urllib.parse import parse_qsl

import anyio.to_thread
from sqlalchemy.exc import OperationalError
from starlette.types import ASGIApp, Receive, Scope, Send

from effigies.avatars import service
from effigies.db import DatabaseNotConfigured, _session_factory
from effigies.errors import DomainError

log = logging.getLogger(__name__)

PREFIX, SUFFIX = "/a/", ".png"
CACHE_CONTROL = b"public, max-age=31536000, immutable"
# Errors may be cached briefly: a CDN then absorbs a flood of requests for made-up ids, and an
# id only exists once its purchase has committed, before anyone is told about it.
ERROR_CACHE_CONTROL = b"public, max-age=60"
SIZE_LIST = ", ".join(map(str, service.SIZES))


class Variant(NamedTuple):
    body: bytes
    etag: bytes
    headers: list[tuple[bytes, bytes]]  # of a 200, ready to send


def make_variant(body: bytes) -> Variant:
    etag = b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode("ascii") + b'"'
    return Variant(body, etag, [
        (b"content-type", b"image/png"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"etag", etag),
        (b"cache-control", CACHE_CONTROL),
        (b"x-content-type-options", b"nosniff"),
        # Public pictures: a game may draw them on a canvas or use them as textures.
        (b"access-control-allow-origin", b"*"),
    ])


class VariantCache:
    """Encoded variants, least recently used evicted first, bounded by their total size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[tuple[str, int], Variant] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[str, int]) -> Variant | None:
        variant = self._items.get(key)
        if variant is not None:
            self._items.move_to_end(key)
        return variant

    def put(self, key: tuple[str, int], variant: Variant) -> None:
        if len(variant.body) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self._items[key] = variant
        self.size += len(variant.body)
        while self.size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted.body)


def _load(public_id: str, size: int) -> bytes:
    session = _session_factory()()
    try:
        return service.scaled_image(session=session, public_id=public_id, size=size)
    finally:
        session.close()


def _etag_matches(header: bytes, etag: bytes) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored."""
    if header.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in header.split(b","))


class PublicAvatars:
    """ASGI middleware: answers /a/{public_id}.png itself, passes every other request to `app`."""

    def __init__(self, app: ASGIApp, *, cache_bytes: int) -> None:
        self.app = app
        self.cache = VariantCache(cache_bytes)
        # One render or disk read per variant at a time: a burst of requests for a new avatar
        # (a profile page just shared) waits for the first instead of each doing the work.
        self._loading: dict[tuple[str, int], asyncio.Future[Variant]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _error(send, 405, "method_not_allowed", "Only GET and HEAD are allowed here.",
                         [(b"allow", b"GET, HEAD")])
            return
        public_id = path[len(PREFIX):-len(SUFFIX)]
        if not service.PUBLIC_ID.match(public_id):
            await _error(send, 404, "avatar_not_found", "No such avatar.")
            return
        size, download = service.DEFAULT_SIZE, False
        if scope.get("query_string"):
            for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
                if name == "s":
                    size = int(value) if value.isascii() and value.isdigit() and len(value) < 5 else -1
                elif name == "download":
                    download = value not in ("", "0", "false")
        if size not in service.SIZES:
            await _error(send, 422, "invalid_size", f"Size must be one of {SIZE_LIST} pixels.")
            return

        key = (public_id, size)
        variant = self.cache.get(key)
        if variant is None:
            try:
                variant = await self._fetch(key)
            except DomainError as exc:
                await _error(send, exc.status, exc.code, exc.message)
                return
            except (OperationalError, DatabaseNotConfigured) as exc:
                log.error("database unavailable: %s", exc)
                await _error(send, 503, "database_unavailable",
                             "Our database is briefly unavailable. Please try again in a moment.", cacheable=False)
                return
            except Exception:
                log.exception("public avatar %s at %s px", public_id, size)
                await _error(send, 500, "internal_error", "Something went wrong on our side.", cacheable=False)
                return

        for name, value in scope["headers"]:
            if name == b"if-none-match" and _etag_matches(value, variant.etag):
                await send({"type": "http.response.start", "status": 304,
                            "headers": [(b"etag", variant.etag), (b"cache-control", CACHE_CONTROL)]})
                await send({"type": "http.response.body", "body": b""})
                return
        headers = variant.headers
        if download:
            disposition = f'attachment; filename="effigies-{public_id}-{size}.png"'.encode("ascii")
            headers = [*headers, (b"content-disposition", disposition)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": variant.body if scope["method"] == "GET" else b""})

    async def _fetch(self, key: tuple[str, int]) -> Variant:
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Variant] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            variant = make_variant(await anyio.to_thread.run_sync(_load, *key))
            self.cache.put(key, variant)
            future.set_result(variant)
            return variant
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so nobody waiting is not an "unretrieved" warning
            raise
        finally:
            del self._loading[key]


async def _error(send: Send, status: int, code: str, message: str,
                 extra: list[tuple[bytes, bytes]] | None = None, *, cacheable: bool = True) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", ERROR_CACHE_CONTROL if cacheable else b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        *(extra or []),
    ]})
    await send({"type": "http.response.body", "body": body})
