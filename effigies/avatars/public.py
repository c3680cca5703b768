"""GET/HEAD /a/{public_id}.{png,webp,jpg}?s=N: the public avatar URL, answered before FastAPI's routing.

This is the URL that game profiles and e-mail signatures hotlink, so it takes far more traffic
than the rest of the API. Through FastAPI (routing, a DB session dependency, FileResponse's stat
and thread per request) one process served 444 req/s with a p99 of 334 ms. Here a variant
already in memory costs a dict lookup and two `send` calls; a miss reads the disk cache, or
draws the variant from the avatar's master (effigies.avatars.delivery), in a thread.

Any size from 16 to 1024 px may be asked for, so drawing is bounded: at most EE_AVATAR_RENDERS
variants are drawn at once per process and EE_AVATAR_RENDER_QUEUE more wait; past that the answer
is a 503 with Retry-After, at once, before drawing anything. A flood of made-up sizes costs a few
cores at most and never queues without bound; variants already drawn (memory, disk) are served
as usual meanwhile. Memory is the LRU's budget (EE_AVATAR_CACHE_MB, in bytes of encoded images)
plus the images being drawn (a 1024 px RGBA one is 4 MB, a few times over while resized).

Pure ASGI, no FastAPI: it must not depend on the session/CSRF machinery, and it must never set
a cookie (CDNs do not cache responses that do). A sold image never changes, so every variant is
cacheable forever, anywhere, and validated by a strong ETag computed from its bytes (the same in
every API process: the bytes come from the same disk file, or the same encoder on the same master).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import NamedTuple
from urllib.parse import parse_qsl

import anyio.to_thread
import psycopg
from sqlalchemy.exc import OperationalError
from starlette.types import ASGIApp, Receive, Scope, Send

from effigies.avatars import delivery, gravatar, variants
from effigies.avatars.hash_lookups import HashLookups
from effigies.avatars.service import PUBLIC_ID
from effigies.db import DatabaseNotConfigured, session_factory
from effigies.errors import DomainError

log = logging.getLogger(__name__)

PREFIX = "/a/"
ROUTE = PREFIX + "{public_id}.{format}"  # how metrics and the route inventory name it
CACHE_CONTROL = b"public, max-age=31536000, immutable"
# Errors may be cached briefly: a CDN then absorbs a flood of requests for made-up ids, and an
# id only exists once its purchase has committed, before anyone is told about it.
ERROR_CACHE_CONTROL = b"public, max-age=60"
RETRY_AFTER_S = 1  # a variant takes at most ~0.1 s to draw: slots free up within a second
SIZE_MESSAGE = (f"Size must be a whole number of pixels from {variants.MIN_SIZE} to {variants.MAX_SIZE} "
                f"({variants.SIZE_RANGE}), as in ?s=128; without ?s= it is {variants.DEFAULT_SIZE}.")
FORMAT_MESSAGE = (f"Avatars are served as {variants.FORMAT_LIST} (/a/ID.png, /a/ID.webp, /a/ID.jpg), "
                  f"at any size from {variants.SIZE_RANGE} px with ?s=N.")
Key = tuple[str, int, str]  # (public id, size, format)
# GET /avatar/{hash}: Gravatar- and Libravatar-compatible (effigies.avatars.gravatar). Which
# avatar a hash shows may change at any time (linked, unlinked), so every answer there, a miss
# included, is cached 5 minutes only; the link itself is read from the database every time.
HASH_PREFIX = "/avatar/"
HASH_ROUTE = HASH_PREFIX + "{hash}"
HASH_CACHE_CONTROL = b"public, max-age=300"
# Per hash and process (effigies.avatars.gravatar.HashBudget): 100 a second, all minute long.
HASH_LOOKUPS_PER_MINUTE = 6000


class Variant(NamedTuple):
    body: bytes
    etag: bytes
    headers: list[tuple[bytes, bytes]]  # of a 200, ready to send


def make_variant(body: bytes, media_type: bytes = b"image/png") -> Variant:
    etag = b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode("ascii") + b'"'
    return Variant(body, etag, [
        (b"content-type", media_type),
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
        self._items: OrderedDict[Key, Variant] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Key) -> Variant | None:
        variant = self._items.get(key)
        if variant is not None:
            self._items.move_to_end(key)
        return variant

    def put(self, key: Key, variant: Variant) -> None:
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


def _prepare(public_id: str, size: int, ext: str) -> bytes | None:
    """The variant's file when kept on disk; otherwise None, once the avatar's master exists (made
    here the first time: a database lookup, so an unknown id is a 404 without taking a slot)."""
    cached = delivery.cached_variant(public_id=public_id, size=size, ext=ext)
    if cached is None and not delivery.has_master(public_id):
        session = session_factory()()
        try:
            delivery.master_image(session=session, public_id=public_id)
        finally:
            session.close()
    return cached


def _draw(public_id: str, size: int, ext: str) -> bytes:
    session = session_factory()()
    try:
        return delivery.render_variant(session=session, public_id=public_id, size=size, ext=ext)
    finally:
        session.close()


class RendersBusy(Exception):
    """Every render slot is taken and the queue is full: answered 503 + Retry-After."""


class RenderSlots:
    """At most ``slots`` variants drawn at once, ``queue`` more waiting; past both, RendersBusy at
    once. Asyncio-level, one per process (its event loop), so the counts need no lock."""

    def __init__(self, slots: int, queue: int) -> None:
        self.slots, self.queue = slots, queue
        self.waiting = 0
        self._semaphore = asyncio.Semaphore(slots)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore.locked() and self.waiting >= self.queue:
            raise RendersBusy
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._semaphore.release()


def _etag_matches(header: bytes, etag: bytes) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored."""
    if header.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in header.split(b","))


class PublicAvatars:
    """ASGI middleware: answers /a/... and /avatar/... itself, passes every other request to `app`."""

    def __init__(self, app: ASGIApp, *, cache_bytes: int, renders: int = 2, render_queue: int = 16,
                 hash_lookups_per_minute: int = HASH_LOOKUPS_PER_MINUTE) -> None:
        self.app = app
        self.hash_budget = gravatar.HashBudget(hash_lookups_per_minute)
        self.lookups = HashLookups()
        self.cache = VariantCache(cache_bytes)
        self.slots = RenderSlots(renders, render_queue)
        # One render or disk read per variant at a time: a burst of requests for a new avatar
        # (a profile page just shared) waits for the first instead of each doing the work.
        self._loading: dict[Key, asyncio.Future[Variant]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        by_hash = path.startswith(HASH_PREFIX)
        if not (by_hash or path.startswith(PREFIX)):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _error(send, 405, "method_not_allowed", "Only GET and HEAD are allowed here.",
                         [(b"allow", b"GET, HEAD")])
            return
        if by_hash:
            await self._by_hash(scope, send, path[len(HASH_PREFIX):])
            return
        public_id, dot, ext = path[len(PREFIX):].rpartition(".")
        if not dot or ext not in variants.FORMATS:
            await _error(send, 404, "unknown_format", FORMAT_MESSAGE)
            return
        if not PUBLIC_ID.match(public_id):
            await _error(send, 404, "avatar_not_found", "No such avatar.")
            return
        size, download = variants.DEFAULT_SIZE, False
        if scope.get("query_string"):
            for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
                if name == "s":
                    size = variants.parse_size(value)
                elif name == "download":
                    download = value not in ("", "0", "false")
        if size is None:
            await _error(send, 422, "invalid_size", SIZE_MESSAGE)
            return

        variant = await self._variant(send, (public_id, size, ext))
        if variant is None:
            return
        headers = variant.headers
        if download:
            disposition = f'attachment; filename="effigies-{public_id}-{size}.{ext}"'.encode("ascii")
            headers = [*headers, (b"content-disposition", disposition)]
        await _send_variant(scope, send, variant, headers, CACHE_CONTROL)

    async def _by_hash(self, scope: Scope, send: Send, tail: str) -> None:
        """/avatar/{hash}: the linked avatar's variant, as /a/ serves it, or what d= says."""
        try:
            lookup = gravatar.parse(tail, scope.get("query_string", b"").decode("latin-1"))
        except gravatar.BadLookup as exc:
            await _error(send, exc.status, exc.code, exc.message)
            return
        wait = self.hash_budget.allow(lookup.digest, time.time())
        if wait is not None:
            await _error(send, 429, "rate_limited", "This address is asked for far too often: try again in a minute.",
                         [(b"retry-after", str(max(1, math.ceil(wait))).encode("ascii"))], cacheable=False)
            return
        public_id = None
        if not lookup.force_default:
            try:
                public_id = await self.lookups.find(lookup.digest)
            except (OperationalError, DatabaseNotConfigured, psycopg.OperationalError) as exc:
                log.error("database unavailable: %s", exc)
                await _error(send, 503, "database_unavailable",
                             "Our database is briefly unavailable. Please try again in a moment.", cacheable=False)
                return
            except Exception:
                log.exception("avatar lookup by hash")
                await _error(send, 500, "internal_error", "Something went wrong on our side.", cacheable=False)
                return
        # Every miss answers alike, whether the address is unknown, unlinked or someone's unverified one.
        if public_id is not None:
            key = (public_id, lookup.size, lookup.ext)
        elif lookup.default == "404":
            await _error(send, 404, "avatar_not_found", "No avatar for this address.", cache_control=HASH_CACHE_CONTROL)
            return
        elif lookup.default == "url":
            await send({"type": "http.response.start", "status": 302, "headers": [
                (b"location", lookup.redirect.encode("ascii")), (b"content-length", b"0"),
                (b"cache-control", HASH_CACHE_CONTROL)]})
            await send({"type": "http.response.body", "body": b""})
            return
        else:  # drawn from the hash; "~" cannot start a public id, so the keys never meet
            key = (f"~{lookup.default}:{lookup.digest}", lookup.size, lookup.ext)
        variant = await self._variant(send, key)
        if variant is not None:
            headers = [h for h in variant.headers if h[0] != b"cache-control"]
            await _send_variant(scope, send, variant, [*headers, (b"cache-control", HASH_CACHE_CONTROL)],
                                HASH_CACHE_CONTROL)

    async def _variant(self, send: Send, key: Key) -> Variant | None:
        """The variant from memory, disk or drawn; None once an error has been answered."""
        variant = self.cache.get(key)
        if variant is None:
            public_id, size, ext = key
            try:
                variant = await self._fetch(key)
            except RendersBusy:
                await _error(send, 503, "busy", "Many new avatar sizes are being drawn right now: try again in a second.",
                             [(b"retry-after", str(RETRY_AFTER_S).encode("ascii"))], cacheable=False)
                return None
            except DomainError as exc:
                await _error(send, exc.status, exc.code, exc.message)
                return None
            except (OperationalError, DatabaseNotConfigured) as exc:
                log.error("database unavailable: %s", exc)
                await _error(send, 503, "database_unavailable",
                             "Our database is briefly unavailable. Please try again in a moment.", cacheable=False)
                return None
            except Exception:
                log.exception("public avatar %s at %s px as %s", public_id, size, ext)
                await _error(send, 500, "internal_error", "Something went wrong on our side.", cacheable=False)
                return None
        return variant

    async def _fetch(self, key: Key) -> Variant:
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Variant] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            variant = make_variant(await self._body(*key), variants.FORMATS[key[2]].media_type)
            self.cache.put(key, variant)
            future.set_result(variant)
            return variant
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so nobody waiting is not an "unretrieved" warning
            raise
        finally:
            del self._loading[key]

    async def _body(self, public_id: str, size: int, ext: str) -> bytes:
        """From disk when kept there, else drawn in a render slot (RendersBusy when none is free)."""
        if public_id.startswith("~"):  # a d= picture of /avatar/{hash}, drawn from the hash alone
            style, _, digest = public_id[1:].partition(":")
            async with self.slots.slot():
                return await anyio.to_thread.run_sync(lambda: gravatar.draw(style, digest, size=size, ext=ext))
        body = await anyio.to_thread.run_sync(_prepare, public_id, size, ext)
        if body is not None:
            return body
        async with self.slots.slot():
            return await anyio.to_thread.run_sync(_draw, public_id, size, ext)


async def _send_variant(scope: Scope, send: Send, variant: Variant, headers: list[tuple[bytes, bytes]],
                        cache_control: bytes) -> None:
    for name, value in scope["headers"]:
        if name == b"if-none-match" and _etag_matches(value, variant.etag):
            await send({"type": "http.response.start", "status": 304,
                        "headers": [(b"etag", variant.etag), (b"cache-control", cache_control)]})
            await send({"type": "http.response.body", "body": b""})
            return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": variant.body if scope["method"] == "GET" else b""})


async def _error(send: Send, status: int, code: str, message: str,
                 extra: list[tuple[bytes, bytes]] | None = None, *, cacheable: bool = True,
                 cache_control: bytes = ERROR_CACHE_CONTROL) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", cache_control if cacheable else b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        *(extra or []),
    ]})
    await send({"type": "http.response.body", "body": body})
