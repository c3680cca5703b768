#!/usr/bin/env python3
"""The public avatar URL under load: GET /a/{id}.{png,webp,jpg}?s=N against the real stack.

    .venv/bin/python scripts/bench_avatar_url.py                        # ~3 minutes, on an idle machine
    .venv/bin/python scripts/bench_avatar_url.py --smoke --out /tmp/x.json   # seconds: checks the script works

Starts what `effigies up` starts (embedded PostgreSQL and Valkey from pip wheels, a Celery
worker, `effigies api` with EE_API_WORKERS processes) in a scratch data folder, buys a few
avatars through the real API (sign-up, funds, generation, purchase), stops the worker (it
lives on other machines in production), then measures, with the raw HTTP/1.1 client of
scripts/bench_http.py (client and server share the machine; the table reports each one's CPU):

1. cached variants: per format, several sizes (some kept on disk, some in memory only) over every
   avatar, each process's memory warmed first; /avatar/{hash} (issue 19) of linked addresses (MD5 and
   SHA-256) and of unlinked ones (an identicon). Goal (issues 5, 15, 19): >= 1,000 req/s, p99 <= 20 ms.
2. cold 1024 px variants, one request at a time: 1024 px of each avatar in each format, then sizes
   just below (1023, 1022, ...: the same work, never kept on disk), so every request draws.
   Goal: p95 <= 100 ms.
3. a burst of N distinct sizes nobody asked for (default 500), all at once on many connections,
   while cached requests keep flowing: the API processes' memory before, at peak and after, what
   the burst got (200s drawn, 503s refused past the render slots), and the other requests' p99
   during the burst. Goal: p99 <= 50 ms, memory within the LRU's budget plus the renders' images.
4. what a variant costs to draw, in this process (CPU ms, best of 3), from the bought avatars'
   files: the master, then each format at sizes from 16 to 1024 (a transparent copy of a drawing too).

Prints tables and writes benchmarks/avatar_url.json (--out).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from bench_http import Connection, Run, api_workers, load, measure, percentiles, request, run_loop
from benchlib import machine, write_result

ROOT = Path(__file__).resolve().parents[1]
# One smooth theme, one pixel-art theme: the worker loads each generator once, so few themes start fast.
THEMES = ("galactic-droids", "pixel-heroes")
GOAL_RPS, GOAL_P99_MS = 1000, 20.0
GOAL_COLD_P95_MS, GOAL_BURST_P99_MS = 100.0, 50.0
# Cached cases: per format, sizes kept on disk (offered on My avatars) and sizes in memory only.
CACHED = {"png": (64, 184, 512, 1024), "webp": (40, 128, 256, 460), "jpg": (100, 250, 400, 1000)}
COST_SIZES = (16, 64, 128, 256, 512, 1024)
# Addresses for /avatar/{hash}: linked ones (MD5 and SHA-256 of each asked for) and unlinked
# ones. Many, as real traffic is: one hash is answered at most 6,000 times a minute per process
# (effigies.avatars.gravatar.HashBudget), which a few hashes at thousands a second would exceed.
LINKED, UNLINKED = 16, 64


def buy_avatars(url: str, count: int) -> list[str]:
    """Avatars bought the way a person buys them: sign-up, funds, a generation, the purchase."""
    from effigies.accounts import service as accounts_service
    from effigies.billing import service as billing_service
    from effigies.db import session_scope

    with session_scope() as session:
        user = accounts_service.signup(session=session, email=f"bench-{uuid.uuid4().hex[:10]}@players.effigies.fr",
                                       password="bench-password-123", display_name="Bench")
        token, user_id = accounts_service.open_session(session=session, user=user), user.id
    with session_scope() as session:
        billing_service.adjust(session=session, user_id=user_id, amount_cents=10 * count, reason="benchmark",
                               admin_id=user_id)
    ids = []
    with httpx.Client(base_url=url, timeout=120, cookies={"ee_session": token}) as client:
        client.get("/api/config")  # hands out the CSRF cookie, echoed in a header like the frontend does
        client.headers["X-CSRF-Token"] = client.cookies["csrftoken"]
        for i in range(count):
            job = client.post(f"/api/themes/{THEMES[i % len(THEMES)]}/generations", json={"count": 1})
            job.raise_for_status()
            deadline = time.monotonic() + 120
            while (body := client.get(f"/api/generations/{job.json()['id']}").json())["status"] not in ("done", "failed"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"generation still {body['status']} after 120 s")
                time.sleep(0.1)
            bought = client.post(f"/api/candidates/{body['candidates'][0]['id']}/purchase", json={"withdrawal_waiver": True})
            bought.raise_for_status()
            ids.append(bought.json()["avatar"]["public_id"])
    # LINKED verified addresses, each linked to one of the avatars (the link itself, as PUT
    # /api/me/avatar-links makes it), so /avatar/{hash} is measured on hits as well as on misses.
    from effigies.avatars import service as avatars_service

    with session_scope() as session:
        for n in range(LINKED):
            avatars_service.link_email(session=session, user_id=user_id, email=linked_address(n), email_verified=True,
                                       public_id=ids[n % len(ids)])
    return ids


def linked_address(n: int) -> str:
    return f"bench-linked-{n}@example.org"


def wait_ready(url: str, proc: subprocess.Popen, path: str = "/api/health") -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with code {proc.returncode}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url}{path} not ready after 120 s")


def warm(port: int, requests: list[bytes], connections: int, expect: int) -> None:
    """Until a pass gets only the expected status: every process has drawn (or read) every variant.
    The first passes meet 503s, by design: many new variants at once exceed the render slots."""
    for _ in range(20):
        run = run_loop(load(port, requests, connections, 1.0, expect))
        if not run.errors:
            return
    raise RuntimeError(f"variants still refused after 20 warm-up passes: {dict(run.statuses)}")


def cached_cases(port: int, url: str, ids: list[str]) -> list[tuple[str, list[bytes], int]]:
    cases = []
    for ext, sizes in CACHED.items():
        paths = [f"/a/{i}.{ext}?s={s}" for s in sizes for i in ids]
        cases.append((f".{ext} ?s={','.join(map(str, sizes))}, 200", [request(port, p) for p in paths], 200))
    paths = [f"/a/{i}.png?s=256" for i in ids]
    etags = [httpx.get(url + p).headers["etag"] for p in paths]
    cases.append((".png ?s=256, If-None-Match: 304", [request(port, p, e) for p, e in zip(paths, etags)], 304))
    # /avatar/{hash} (Gravatar-compatible): one database lookup per request (links are never
    # cached in the server), for linked addresses (the avatar's variant) and for addresses nobody
    # linked, answered with a drawn identicon.
    linked = [hashlib.md5(linked_address(n).encode()).hexdigest() for n in range(LINKED)]
    linked += [hashlib.sha256(linked_address(n).encode()).hexdigest() for n in range(LINKED)]
    cases.append(("/avatar/{md5,sha256}?s=80 (linked), 200", [request(port, f"/avatar/{d}?s=80") for d in linked], 200))
    digests = [hashlib.md5(f"bench-{n}@example.org".encode()).hexdigest() for n in range(UNLINKED)]
    cases.append(("/avatar/{md5}?d=identicon&s=80 (miss), 200",
                  [request(port, f"/avatar/{d}?d=identicon&s=80") for d in digests], 200))
    return cases


def cold(url: str, ids: list[str], extra: int) -> dict:
    """Requests that each draw a variant: no process has it in memory, nor is it on disk."""
    def timed(client: httpx.Client, path: str) -> float:
        started = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
        return elapsed

    result = {}
    with httpx.Client(base_url=url, timeout=30) as client:  # one connection: one process, one draw at a time
        for name, sizes in (("1024 px", [1024]), ("1000-1023 px", list(range(1023, 1023 - extra, -1)))):
            ms = np.array([timed(client, f"/a/{i}.{ext}?s={size}") for size in sizes for i in ids for ext in CACHED])
            result[name] = {"requests": len(ms), **percentiles(ms), "max_ms": float(ms.max())}
            result[name]["goal_met"] = result[name]["p95_ms"] <= GOAL_COLD_P95_MS
    return result


class MemorySampler(threading.Thread):
    """Resident memory of the API processes every 20 ms: the peak of their sum."""

    def __init__(self, api_pid: int) -> None:
        super().__init__(daemon=True)
        self.processes, self.peak, self.stop = api_workers(api_pid), 0, threading.Event()

    def total(self) -> int:
        return sum(p.memory_info().rss for p in self.processes)

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.total())
            time.sleep(0.02)


async def _burst(port: int, background: list[bytes], flood: list[bytes], flood_connections: int):
    loop = asyncio.get_running_loop()
    steady = Run(loop, 3600, 200)
    steady_conns = [await loop.create_connection(lambda i=i: Connection(steady, background, i), "127.0.0.1", port)
                    for i in range(8)]
    await asyncio.sleep(1.0)
    burst = Run(loop, 3600, 200)
    chunks = [flood[i::flood_connections] for i in range(flood_connections)]
    started = time.perf_counter()
    flood_conns = [await loop.create_connection(lambda c=c: Connection(burst, c, -1, limit=len(c)), "127.0.0.1", port)
                   for c in chunks if c]
    await asyncio.gather(*(protocol.closed for _, protocol in flood_conns))
    ended = time.perf_counter()
    await asyncio.sleep(0.5)
    steady.deadline = 0  # each connection stops after its current response
    await asyncio.gather(*(protocol.closed for _, protocol in steady_conns))
    return steady, burst, started, ended


def burst(port: int, api_pid: int, ids: list[str], count: int, connections: int, cache_mb: int) -> dict:
    """``count`` distinct sizes never asked for (WebP of the first avatar: none is kept on disk)."""
    from effigies.avatars.delivery import DISK_SIZES

    used = {s for sizes in CACHED.values() for s in sizes} | set(range(1000, 1024)) | set(DISK_SIZES)
    sizes = random.Random(15).sample([s for s in range(16, 1025) if s not in used], count)
    flood = [request(port, f"/a/{ids[0]}.webp?s={s}") for s in sizes]
    background = [request(port, f"/a/{i}.png?s={s}") for i in ids for s in (64, 256)]
    sampler = MemorySampler(api_pid)
    before = sampler.total()
    sampler.start()
    steady, flooded, started, ended = run_loop(_burst(port, background, flood, connections))
    sampler.stop.set()
    sampler.join()
    after = sampler.total()
    during = steady.window_ms(started, ended)
    drawn = np.array(flooded.latencies) * 1000
    mb = 1 / 1e6
    result = {
        "distinct_sizes": count, "connections": connections, "seconds": round(ended - started, 2),
        "statuses": {str(k): v for k, v in sorted(flooded.statuses.items())},
        "drawn": {"requests": len(drawn), **percentiles(drawn)},
        "others_during_burst": {"requests": len(during), **percentiles(during), "errors": steady.errors},
        "rss_mb": {"before": round(before * mb, 1), "peak": round(sampler.peak * mb, 1), "after": round(after * mb, 1),
                   "processes": len(sampler.processes)},
        # Per process: the LRU's budget in encoded bytes, plus the images of the renders in flight.
        "memory_budget_mb_per_process": cache_mb + 64,
    }
    growth = (sampler.peak - before) * mb / len(sampler.processes)
    result["goal_met"] = (result["others_during_burst"]["p99_ms"] <= GOAL_BURST_P99_MS and not steady.errors
                          and growth <= result["memory_budget_mb_per_process"])
    return result


def render_costs(ids: list[str]) -> list[dict]:
    """CPU ms (thread time, best of 3) of the master and of each variant, in this process."""
    from PIL import Image
    from sqlalchemy import select

    from effigies.avatars import variants
    from effigies.generation.master import make_master
    from effigies.avatars.models import Avatar
    from effigies.config import get_settings
    from effigies.db import session_scope
    from effigies.themes.models import Theme

    def best(fn, repeat=3):
        times = []
        for _ in range(repeat):
            started = time.thread_time()
            out = fn()
            times.append(time.thread_time() - started)
        return min(times) * 1000, out

    with session_scope() as session:
        rows = session.execute(select(Avatar.public_id, Avatar.image_path, Theme.slug, Theme.pixel_art)
                               .join(Theme, Avatar.theme_id == Theme.id).where(Avatar.public_id.in_(ids))).all()
    sources: dict[str, tuple[bool, Image.Image]] = {}  # one avatar per theme
    for _, path, slug, pixel_art in rows:
        if slug not in sources:
            with Image.open(get_settings().images_dir / path) as image:
                sources[slug] = (pixel_art, image.copy())
    smooth = next((image for pixel_art, image in sources.values() if not pixel_art), None)
    if smooth is not None:  # transparent where the drawing is near-white: what an RGBA theme delivers
        pixels = np.asarray(smooth.convert("RGBA")).copy()
        pixels[..., 3] = np.where(pixels[..., :3].min(axis=2) > 225, 0, 255)
        sources["transparent copy"] = (False, Image.fromarray(pixels))
    results = []
    for name, (pixel_art, image) in sources.items():
        ms, master = best(lambda: make_master(image, pixel_art=pixel_art, weights_dir=None))
        results.append({"avatar": name, "pixel_art": pixel_art, "variant": "master (256 px)", "cpu_ms": round(ms, 2)})
        for size in COST_SIZES:
            for ext in variants.FORMATS:
                ms, data = best(lambda: variants.render(master, size=size, ext=ext, pixel_art=pixel_art))
                results.append({"avatar": name, "pixel_art": pixel_art, "variant": f"{size} px .{ext}",
                                "cpu_ms": round(ms, 2), "kb": round(len(data) / 1000, 1)})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 32], help="keep-alive connections (C)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per cached case (T)")
    parser.add_argument("--avatars", type=int, default=4)
    parser.add_argument("--cold-extra", type=int, default=8, help="sizes below 1024 drawn cold, per avatar and format")
    parser.add_argument("--burst", type=int, default=500, help="distinct sizes in the burst")
    parser.add_argument("--burst-connections", type=int, default=32)
    parser.add_argument("--api-workers", type=int, default=os.cpu_count() or 1, help="EE_API_WORKERS")
    parser.add_argument("--smoke", action="store_true", help="tiny settings: checks the script works, measures nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "avatar_url.json")
    args = parser.parse_args()
    if args.smoke:
        args.connections, args.seconds, args.avatars, args.cold_extra = [4], 1.0, 2, 1
        args.burst, args.burst_connections, args.api_workers = 40, 8, 1
    console = Console(width=160)
    for name in ("DATABASE_URL", "REDIS_URL"):  # the embedded default, as `make run` on a fresh machine
        os.environ.pop(name, None)
    from effigies.config import get_settings
    from effigies.embedded import embedded_services
    from effigies.embedded._proc import free_port

    results: list[dict] = []
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="ee-bench-") as tmp, embedded_services(Path(tmp) / "servers") as services:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **services, "EE_DATA_DIR": str(Path(tmp) / "data"), "EE_PORT": str(port),
               "EE_PUBLIC_URL": url, "EE_API_WORKERS": str(args.api_workers)}
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        subprocess.run([sys.executable, "-m", "effigies.cli", "db", "upgrade"], env=env, check=True, cwd=ROOT,
                       capture_output=True)
        logs = Path(tmp) / "logs"
        logs.mkdir()
        worker, api = (subprocess.Popen([sys.executable, "-m", "effigies.cli", *cmd], env=env, cwd=ROOT,
                                        stdout=open(logs / f"{cmd[0]}.log", "wb"), stderr=subprocess.STDOUT)
                       for cmd in (["worker", "--concurrency", "1"], ["api"]))
        try:
            wait_ready(url, api)
            ids = buy_avatars(url, args.avatars)
            worker.terminate()
            worker.wait(30)
            console.print(f"{len(ids)} avatars bought; API: {args.api_workers} processes "
                          f"({settings.avatar_renders} render slots + {settings.avatar_render_queue} queued each); worker stopped")
            for name, requests, expect in cached_cases(port, url, ids):
                warm(port, requests, max(args.connections), expect)
                for connections in args.connections:
                    result = {"case": name, **measure(port, api.pid, requests, connections, args.seconds, expect)}
                    result["goal_met"] = result["req_per_s"] >= GOAL_RPS and result["p99_ms"] <= GOAL_P99_MS and not result["errors"]
                    results.append(result)
                    console.print(result)
            cold_result = cold(url, ids, args.cold_extra)
            console.print({"cold": cold_result})
            burst_result = burst(port, api.pid, ids, args.burst, args.burst_connections, settings.avatar_cache_mb)
            console.print({"burst": burst_result})
            costs = render_costs(ids)
        finally:
            for proc in (api, worker):
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(30)

    table = Table(title=f"cached variants: {args.api_workers} API processes, {args.seconds:g} s per line, client and "
                        f"server on the same {os.cpu_count()} cores, load before {load_before}")
    for col in ("case", "C", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "client CPU", "server CPU", "goal"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in results:
        table.add_row(r["case"], str(r["connections"]), f"{r['req_per_s']:,.0f}", f"{r['p50_ms']:.1f}",
                      f"{r['p95_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["errors"]), f"{r['client_cpu_pct']:.0f}%",
                      f"{r['server_cpu_pct']:.0f}%", "met" if r["goal_met"] else "missed")
    console.print(table)
    console.print(f"goal: >= {GOAL_RPS:,} req/s and p99 <= {GOAL_P99_MS:g} ms; CPU 100% = one core")
    table = Table(title="cold variants (each request draws one), one at a time")
    for col in ("sizes", "requests", "p50 ms", "p95 ms", "max ms", "goal"):
        table.add_column(col, justify="left" if col == "sizes" else "right")
    for name, r in cold_result.items():
        table.add_row(name, str(r["requests"]), f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['max_ms']:.1f}",
                      "met" if r["goal_met"] else "missed")
    console.print(table)
    b = burst_result
    console.print(f"burst of {b['distinct_sizes']} distinct sizes on {b['connections']} connections, {b['seconds']} s: "
                  f"statuses {b['statuses']}; others during it: {b['others_during_burst']['requests']} requests, "
                  f"p99 {b['others_during_burst']['p99_ms']:.1f} ms (goal <= {GOAL_BURST_P99_MS:g}); API memory "
                  f"{b['rss_mb']['before']} -> peak {b['rss_mb']['peak']} -> {b['rss_mb']['after']} MB over "
                  f"{b['rss_mb']['processes']} processes: {'met' if b['goal_met'] else 'missed'}")
    table = Table(title="drawing a variant from the master (CPU ms in this process, best of 3)")
    for col in ("avatar", "variant", "CPU ms", "kB"):
        table.add_column(col, justify="left" if col in ("avatar", "variant") else "right")
    for r in costs:
        table.add_row(r["avatar"], r["variant"], f"{r['cpu_ms']:.1f}", f"{r.get('kb', '')}")
    console.print(table)
    # Other work on the machine (load average before the run) takes cores from both sides.
    write_result(args.out, {"machine": machine(api_workers=args.api_workers, load_average_before=load_before,
                                               avatar_renders=settings.avatar_renders,
                                               avatar_render_queue=settings.avatar_render_queue,
                                               avatar_cache_mb=settings.avatar_cache_mb),
                            "smoke": args.smoke,
                            "client": "asyncio + uvloop, raw HTTP/1.1 keep-alive, one thread",
                            "goal": {"req_per_s": GOAL_RPS, "p99_ms": GOAL_P99_MS, "cold_p95_ms": GOAL_COLD_P95_MS,
                                     "burst_others_p99_ms": GOAL_BURST_P99_MS},
                            "results": results, "cold": cold_result, "burst": burst_result, "render_costs": costs},
                 console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
