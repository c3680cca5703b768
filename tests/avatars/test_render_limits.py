"""Drawing new variants is bounded per process (effigies.avatars.public.RenderSlots): past the
slots and the queue, a 503 with Retry-After, at once; bad input never takes a slot or a cache entry.

The middleware runs in this process on the suite's real database and image folder, so a test can
hold the slots itself: deterministic, no sleeps racing a clock.
"""
from __future__ import annotations

import asyncio
import concurrent.futures

import httpx
import pytest

from tests.avatars.helpers import avatar_files


async def _not_found(scope, receive, send):  # what FastAPI would be behind the middleware
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _run(scenario):
    # A thread of its own: the suite's Playwright (sync API) keeps an event loop running in the
    # main thread once a browser test has started, and asyncio.run refuses to nest in it.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario()).result()


async def _until(condition):
    """Lets the event loop run until ``condition()``: waits on the other tasks' progress, not on time."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


def test_render_slots_queue_then_refuse_at_once():
    from effigies.avatars.public import RendersBusy, RenderSlots

    async def scenario():
        slots = RenderSlots(1, 1)
        order = []

        async def draw(name):
            async with slots.slot():
                order.append(name)

        async with slots.slot():  # the one slot, held
            waiting = asyncio.create_task(draw("queued"))
            await _until(lambda: slots.waiting == 1)
            with pytest.raises(RendersBusy):  # the queue is full too: refused without waiting
                async with slots.slot():
                    pass
            assert order == []
        await waiting
        assert order == ["queued"] and slots.waiting == 0
        async with slots.slot():  # free again
            pass

    _run(scenario)


def test_past_the_cap_a_new_variant_is_503_with_retry_after_and_kept_ones_still_serve(stack, smooth_id):
    from effigies.avatars.public import PublicAvatars

    assert httpx.get(f"{stack.url}/a/{smooth_id}.png").status_code == 200  # master and 256 px PNG on disk

    async def scenario():
        app = PublicAvatars(_not_found, cache_bytes=10_000_000, renders=1, render_queue=0)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://avatars") as c:
            async with app.slots.slot():  # every slot taken, no queue
                busy = await c.get(f"/a/{smooth_id}.webp", params={"s": 777})
                assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
                assert busy.headers["content-type"] == "application/json"
                assert busy.headers["cache-control"] == "no-store"
                assert busy.json()["error"]["code"] == "busy"
                # Kept on disk: read, not drawn, so served all the same.
                kept = await c.get(f"/a/{smooth_id}.png")
                assert kept.status_code == 200 and kept.headers["content-type"] == "image/png"
                assert len(app.cache) == 1
            drawn = await c.get(f"/a/{smooth_id}.webp", params={"s": 777})
            assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/webp"
            # Now in memory: served even with every slot taken again.
            async with app.slots.slot():
                again = await c.get(f"/a/{smooth_id}.webp", params={"s": 777})
                assert again.status_code == 200 and again.content == drawn.content
            assert "777.webp" not in avatar_files(smooth_id)  # a size not offered stays in memory only

    _run(scenario)


def test_a_queued_render_is_served_once_a_slot_frees_the_next_is_refused(stack, smooth_id):
    from effigies.avatars.public import PublicAvatars

    async def scenario():
        app = PublicAvatars(_not_found, cache_bytes=10_000_000, renders=1, render_queue=1)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://avatars") as c:
            async with app.slots.slot():
                queued = asyncio.create_task(c.get(f"/a/{smooth_id}.jpg", params={"s": 501}))
                await _until(lambda: app.slots.waiting == 1)
                # The same variant joins the queued render rather than asking for another slot.
                same = asyncio.create_task(c.get(f"/a/{smooth_id}.jpg", params={"s": 501}))
                refused = await c.get(f"/a/{smooth_id}.jpg", params={"s": 502})
                assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
                assert not queued.done()
            first, second = await queued, await same
            assert first.status_code == second.status_code == 200 and first.content == second.content

    _run(scenario)


def test_bad_input_takes_no_slot_and_leaves_nothing_in_memory_or_on_disk(stack, smooth_id):
    from effigies.avatars.public import PublicAvatars

    async def scenario():
        app = PublicAvatars(_not_found, cache_bytes=10_000_000, renders=1, render_queue=0)
        before = avatar_files(smooth_id)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://avatars") as c:
            async with app.slots.slot():  # were any of these to draw, it would be a 503
                for path, params, status in (
                    (f"/a/{smooth_id}.png", {"s": "15"}, 422), (f"/a/{smooth_id}.png", {"s": "1025"}, 422),
                    (f"/a/{smooth_id}.webp", {"s": "abc"}, 422), (f"/a/{smooth_id}.gif", {"s": "64"}, 404),
                    ("/a/doesnotexist0000.png", {"s": "64"}, 404),
                ):
                    response = await c.get(path, params=params)
                    assert response.status_code == status, (path, params, response.text)
                    assert "error" in response.json()
            assert (await c.get("/api/other")).status_code == 418  # anything else goes to the app behind
        assert len(app.cache) == 0 and app.slots.waiting == 0
        assert avatar_files(smooth_id) == before

    _run(scenario)
