"""Fair generation: whose work a free worker takes next is chosen here, in Redis, not by FIFO.

One FIFO let one person starve everyone: 880 images queued by two accounts in 1.6 s made a
third person's 4-image job wait 10.3 s instead of 0.2 s. Now every job and board is an *item*
in its owner's own list, and a Celery message (``effigies.generation.tasks.serve_generation``)
is only a wake-up: "a worker is free, serve whoever is due". The choice, in one Lua script:

- start-time fair queueing, weighted by images: each owner with waiting work has a tag (its
  score in ``ready``); a worker takes the first item of the owner with the lowest tag, and that
  owner's tag grows by the item's images (a job: its count; a board: 16 or 64). An owner who
  starts waiting again joins at the current virtual time (the tag last served), never lower, so
  nobody saves up credit while idle and a newcomer is served before anyone already waiting;
- at most ``EE_GENERATION_INFLIGHT_PER_PERSON`` items per owner run at once (default 1), and
  the items of *bulk* owners (more than one item waiting: they asked again before being served)
  run at most ``EE_GENERATION_BULK_INFLIGHT`` at a time, all together (default 1); in the worker
  process a bulk item's thread also gives way while someone else's item runs there (running,
  yield_to_others, below). Turn order is not CPU share: with each of two flooders on a thread of
  its own, the third person was served at once yet ran at 2.1-2.2x its idle p95 (three ways on
  2 cores); with both, within 1.4-1.8x (tests/generation/test_fairness.py). One person's budget
  (EE_GENERATION_IMAGES_PER_USER a minute) is a sliver of what one thread makes, so none of this
  costs anybody real throughput;
- an owner is an account (``u:<id>``) or a visitor (``v:<key>``); many accounts behind one
  address each get a share, and the per-address image budget (effigies.generation.router)
  bounds their sum.

Nothing is lost when a worker dies: a taken item holds a *lease* (half the broker's visibility
timeout); any later pop, and the beat's sweep, put expired leases back at the head of their
owner's list. The dead worker's wake-up message comes back after the visibility timeout
(acks_late), after the lease ran out, since a worker serves for at most a quarter of it per
message (serve_seconds). Running an item twice is harmless: run_job and make_board are
idempotent. Wake-ups that find nothing due just return.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import redis

from effigies.config import get_settings

LANE = "generate"  # the Celery queue the wake-ups go to; a test may use a lane of its own
SERVE_TASK = "effigies.generation.tasks.serve_generation"

# KEYS: none (every key derives from ARGV[1], the lane's prefix: one Redis, no cluster).
_COMMON = """
local p = ARGV[1]
local function vtime() return tonumber(redis.call('GET', p .. 'vtime') or '0') end
local function inflight(owner) return tonumber(redis.call('HGET', p .. 'inflight', owner) or '0') end
-- An owner with waiting items and room under the cap is in `ready`, at max(virtual time, its tag).
local function make_ready(owner, cap)
  if redis.call('LLEN', p .. 'q:' .. owner) == 0 or inflight(owner) >= cap then return end
  if redis.call('ZSCORE', p .. 'ready', owner) then return end
  local tag = tonumber(redis.call('HGET', p .. 'tag', owner) or '0')
  redis.call('ZADD', p .. 'ready', math.max(vtime(), tag), owner)
end
local function release(owner, cap)
  if redis.call('HINCRBY', p .. 'inflight', owner, -1) <= 0 then redis.call('HDEL', p .. 'inflight', owner) end
  if redis.call('LLEN', p .. 'q:' .. owner) == 0 and inflight(owner) == 0 then
    redis.call('HDEL', p .. 'tag', owner)  -- idle: it comes back at the virtual time
  else
    make_ready(owner, cap)
  end
end
local function reclaim(now, cap)
  local n = 0
  for _, item in ipairs(redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', now, 'LIMIT', 0, 32)) do
    redis.call('ZREM', p .. 'leases', item)
    redis.call('SREM', p .. 'bulk', item)
    local owner = cjson.decode(item)['o']
    redis.call('LPUSH', p .. 'q:' .. owner, item)
    redis.call('INCR', p .. 'waiting')
    release(owner, cap)
    n = n + 1
  end
  return n
end
"""

# ARGV: prefix, owner, item, cap. Returns 1 when the owner just became ready (send a wake-up).
_PUSH = _COMMON + """
local owner = ARGV[2]
local was_ready = redis.call('ZSCORE', p .. 'ready', owner)
redis.call('RPUSH', p .. 'q:' .. owner, ARGV[3])
redis.call('INCR', p .. 'waiting')
if was_ready then return 0 end
make_ready(owner, tonumber(ARGV[4]))
if redis.call('ZSCORE', p .. 'ready', owner) then return 1 end
return 0
"""

# ARGV: prefix, now, lease deadline, cap, bulk cap. Returns {item or false, owners still due, bulk?}.
# An owner with more than one item waiting is a *bulk* owner (they asked again before being
# served): bulk owners' items run at most `bulk cap` at a time, all together, in their turns.
_POP = _COMMON + """
local cap, bulk_cap = tonumber(ARGV[4]), tonumber(ARGV[5])
reclaim(tonumber(ARGV[2]), cap)
local bulk_busy = redis.call('SCARD', p .. 'bulk') >= bulk_cap
local chosen, start, bulk, due = nil, 0, false, 0
local ready = redis.call('ZRANGE', p .. 'ready', 0, 63, 'WITHSCORES')
for i = 1, #ready, 2 do
  local owner, backlog = ready[i], redis.call('LLEN', p .. 'q:' .. ready[i])
  if backlog == 0 then
    redis.call('ZREM', p .. 'ready', owner)  -- never left so, but harmless to mend
  elseif backlog == 1 or not bulk_busy then
    if chosen == nil then
      chosen, start, bulk = owner, tonumber(ready[i + 1]), backlog > 1
      if bulk and redis.call('SCARD', p .. 'bulk') + 1 >= bulk_cap then bulk_busy = true end
    else
      due = due + 1
    end
  end
end
if chosen == nil then return {false, 0, 0} end
local owner = chosen
redis.call('ZREM', p .. 'ready', owner)
local item = redis.call('LPOP', p .. 'q:' .. owner)
redis.call('DECR', p .. 'waiting')
redis.call('SET', p .. 'vtime', math.max(vtime(), start))
redis.call('HSET', p .. 'tag', owner, start + tonumber(cjson.decode(item)['n']))
redis.call('HINCRBY', p .. 'inflight', owner, 1)
redis.call('ZADD', p .. 'leases', tonumber(ARGV[3]), item)
if bulk then redis.call('SADD', p .. 'bulk', item) end
make_ready(owner, cap)
if redis.call('ZSCORE', p .. 'ready', owner) and (redis.call('LLEN', p .. 'q:' .. owner) == 1 or not bulk_busy) then
  due = due + 1
end
return {item, due, bulk and 1 or 0}
"""

# ARGV: prefix, item, cap. Releases the item's lease (none if it expired and was put back).
_DONE = _COMMON + """
local item = ARGV[2]
if redis.call('ZREM', p .. 'leases', item) == 0 then return 0 end
redis.call('SREM', p .. 'bulk', item)
release(cjson.decode(item)['o'], tonumber(ARGV[3]))
return 1
"""

# ARGV: prefix, now, cap. Returns {leases put back, owners ready}.
_RECLAIM = _COMMON + """
local n = reclaim(tonumber(ARGV[2]), tonumber(ARGV[3]))
return {n, redis.call('ZCARD', p .. 'ready')}
"""


@dataclass(frozen=True)
class Item:
    owner: str
    kind: str  # "job" (generation_jobs.id) | "board" (its folder's hex id)
    id: str
    images: int
    raw: str  # as stored: the lease's key
    bulk: bool = field(default=False, compare=False)  # taken with more of its owner's waiting

    @classmethod
    def parse(cls, raw: bytes | str, *, bulk: bool = False) -> Item:
        raw = raw.decode() if isinstance(raw, bytes) else raw
        body = json.loads(raw)
        return cls(owner=body["o"], kind=body["k"], id=body["id"], images=int(body["n"]), raw=raw, bulk=bulk)


def owner_key(*, user_id: object = None, visitor_key: str | None = None) -> str:
    """Whose turn an item takes: an account's, or a visitor's (the stored hash of its cookie)."""
    if (user_id is None) == (visitor_key is None):
        raise ValueError("an account or a visitor")
    return f"u:{user_id}" if user_id is not None else f"v:{visitor_key}"


def _prefix(lane: str) -> str:
    return f"ee:fq:{lane}:"


@lru_cache
def _client() -> redis.Redis:
    # Short timeouts, as the API's: a Redis that is down must become a quick 503, never a hang.
    return redis.Redis.from_url(get_settings().redis_url, socket_timeout=3, socket_connect_timeout=3)


@lru_cache
def _scripts() -> dict[str, redis.commands.core.Script]:
    client = _client()
    return {name: client.register_script(body) for name, body in
            (("push", _PUSH), ("pop", _POP), ("done", _DONE), ("reclaim", _RECLAIM))}


def _cap() -> int:
    return get_settings().generation_inflight_per_person


def lease_seconds() -> float:
    """How long a taken item is a worker's before another may take it again."""
    return max(1.0, get_settings().broker_visibility_timeout_s / 2)


def serve_seconds() -> float:
    """How long one wake-up serves before leaving a fresh wake-up behind: well within the lease
    and the visibility timeout (see the module's docstring), and a warm shutdown's wait."""
    return min(30.0, get_settings().broker_visibility_timeout_s / 4)


def push(*, owner: str, kind: str, item_id: str, images: int, lane: str = LANE) -> bool:
    """Queue an item at the end of its owner's list; True when a worker must be woken for it
    (its owner was not due yet: the wake-up already sent for a due owner, or the worker serving
    the owner's running item, will take it). Raises redis.RedisError when Redis is down."""
    raw = json.dumps({"o": owner, "k": kind, "id": item_id, "n": int(images)}, separators=(",", ":"), sort_keys=True)
    return bool(_scripts()["push"](args=[_prefix(lane), owner, raw, _cap()]))


def pop(lane: str = LANE) -> tuple[Item | None, int]:
    """(The next item due, leased to the caller, or None; how many owners are still due)."""
    now = time.time()
    raw, ready, bulk = _scripts()["pop"](args=[_prefix(lane), now, now + lease_seconds(), _cap(),
                                               get_settings().generation_bulk_inflight])
    return (Item.parse(raw, bulk=bool(bulk)) if raw else None), int(ready)


def done(item: Item, lane: str = LANE) -> None:
    """The item ran (or failed for good): its owner's next one may start."""
    _scripts()["done"](args=[_prefix(lane), item.raw, _cap()])


def reclaim(lane: str = LANE) -> tuple[int, int]:
    """(Expired leases put back, owners due): for the beat's sweep, which wakes that many."""
    reclaimed, ready = _scripts()["reclaim"](args=[_prefix(lane), time.time(), _cap()])
    return int(reclaimed), int(ready)


def waiting_key(lane: str = LANE) -> str:
    """The counter of items queued and not yet taken, everyone's (a queue-depth gauge reads it)."""
    return _prefix(lane) + "waiting"


def waiting(lane: str = LANE) -> int:
    return int(_client().get(waiting_key(lane)) or 0)


# ---------------------------------------------------------------- in the worker process
# Turns decide who starts; CPU is shared by whoever runs. A bulk item running beside someone
# else's job in the same process would still take half the cores from it (its forward passes
# use every torch thread, its fingerprints hold the GIL), so a bulk item's thread waits at its
# checkpoints (before each forward pass in effigies.generation.sampler, each 8 fingerprints and
# the last steps of jobs and boards) while another person's item runs here: up to YIELD_S each
# time, so a flood slows down under steady traffic but never stops.
YIELD_S = 0.25
_others = 0
_others_done = threading.Condition()
_bulk_thread = threading.local()


@contextmanager
def running(item: Item) -> Iterator[None]:
    """Around an item's work in a worker thread."""
    global _others
    if item.bulk:
        _bulk_thread.on = True
        try:
            yield
        finally:
            _bulk_thread.on = False
        return
    with _others_done:
        _others += 1
    try:
        yield
    finally:
        with _others_done:
            _others -= 1
            _others_done.notify_all()


def yield_to_others() -> None:
    """In a bulk item's thread: wait (a while at most) for the others' items running here."""
    if getattr(_bulk_thread, "on", False):
        with _others_done:
            _others_done.wait_for(lambda: _others == 0, timeout=YIELD_S)
