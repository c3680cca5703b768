#!/usr/bin/env python3
"""Benchmark a running Effigies (e.g. `make run`): the public avatar URL under 32 connections.

    EE_ADMIN_EMAIL=admin@example.com EE_ADMIN_PASSWORD=... make run     # in one terminal
    .venv/bin/python scripts/bench_public_url.py --url http://127.0.0.1:8000 \
        --admin-email admin@example.com --admin-password ...

Buys one avatar (the admin funds a fresh account), then hammers GET /a/{id}.png?s=256 for 10 s.
Generation under load is scripts/bench_generate.py. Prints a table and writes
benchmarks/public_url.json (numbers, machine, date).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from benchlib import machine, write_result

ROOT = Path(__file__).resolve().parents[1]


class Client(httpx.Client):
    def request(self, method, url, **kwargs):
        if method.upper() != "GET":
            if "csrftoken" not in self.cookies:
                super().request("GET", "/api/config")
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "X-CSRF-Token": self.cookies["csrftoken"]}
        return super().request(method, url, **kwargs)


def signup(url: str) -> Client:
    c = Client(base_url=url, timeout=60)
    r = c.post("/api/auth/signup", json={"email": f"bench-{uuid.uuid4().hex[:10]}@example.com",
                                        "password": "bench-password-123", "display_name": "Bench"})
    r.raise_for_status()
    return c


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def hammer(url: str, path: str, seconds: float, concurrency: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        async def loop():
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await client.get(path)
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return len(latencies), latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--theme", default="galactic-droids")
    parser.add_argument("--admin-email", default=os.environ.get("EE_ADMIN_EMAIL"))
    parser.add_argument("--admin-password", default=os.environ.get("EE_ADMIN_PASSWORD"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "public_url.json")
    args = parser.parse_args()
    console = Console()
    results: dict[str, dict[str, float]] = {}

    user = signup(args.url)
    if args.admin_email and args.admin_password:
        admin = Client(base_url=args.url, timeout=30)
        admin.post("/api/auth/login", json={"email": args.admin_email, "password": args.admin_password}).raise_for_status()
        me = user.get("/api/me").json()
        admin.post(f"/api/admin/wallets/{me['id']}/adjustments", json={"amount_cents": 100, "reason": "benchmark"}).raise_for_status()
        job = user.post(f"/api/themes/{args.theme}/generations", json={"count": 1}).json()
        while (body := user.get(f"/api/generations/{job['id']}").json())["status"] not in ("done", "failed"):
            time.sleep(0.05)
        bought = user.post(f"/api/candidates/{body['candidates'][0]['id']}/purchase")
        bought.raise_for_status()
        path = f"/a/{bought.json()['avatar']['public_id']}.png?s=256"
        user.get(path).raise_for_status()  # warm the scaled variant
        count, lat = asyncio.run(hammer(args.url, path, 10.0, 32))
        results["GET /a/{id}.png?s=256 (cached), 32 connections, 10 s"] = {
            "n": count, "req_per_s": count / 10.0, "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * pct(lat, 99)}
    else:
        parser.error("give --admin-email and --admin-password (or EE_ADMIN_*): buying the avatar needs funds")

    table = Table(title="Effigies benchmarks")
    for col in ("case", "n", "p50 ms", "p95/p99 ms", "throughput"):
        table.add_column(col)
    for case, r in results.items():
        tail = r.get("p95_ms", r.get("p99_ms", 0))
        rate = r.get("jobs_per_s") or r.get("req_per_s")
        table.add_row(case, str(r["n"]), f"{r['p50_ms']:.0f}", f"{tail:.0f}", f"{rate:.1f}/s" if rate else "")
    console.print(table)

    write_result(args.out, {"machine": machine(), "url": args.url, "results": results}, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
