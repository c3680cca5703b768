#!/usr/bin/env python3
"""Load test: N simulated people using the whole product for a while, against `effigies up`.

    .venv/bin/python scripts/load_test.py                        # 50 users, 5 minutes
    .venv/bin/python scripts/load_test.py --users 5 --seconds 30 # a quick look

Starts `effigies up` exactly as `make run` does on a fresh machine (embedded PostgreSQL,
Valkey and localstripe from pip wheels, the Celery workers, the API), in a scratch data
folder and on free ports; or, with --url/--stripe-base, uses a stack that is already running.

Each simulated person comes from an address of their own (X-Forwarded-For, which uvicorn
trusts from 127.0.0.1, as behind the production proxy), so the per-address limits act as
they would for real people; the per-account limits are the product's defaults. A person:
signs up (and opens the e-mailed link, read from the local outbox), tops up €1 with a card (the wallet page's flow: a SetupIntent confirmed at localstripe
as stripe.js does it, our top-up endpoint, Stripe's signed webhook), then, until the time is up:
generates 4 candidates and waits for them (Server-Sent Events), regenerates now and then,
buys one candidate out of three rounds, fetches the public URL of an avatar they own in two
sizes, looks at their avatars and wallet, and pauses 0.5–2 s between steps (a person reads).
Their credit runs out after ten purchases, so 402s appear: expected, like 409 (someone
bought that one or a near-copy first) and 429 (rate limit, with Retry-After honoured).
Anything else (5xx, other 4xx, timeouts) is an error.

Measured: p50/p95/p99 per endpoint, status counts, and the resident memory (RSS) of the API
and worker processes after a warm-up minute and at the end. Prints a table and writes
benchmarks/load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

from benchlib import machine, write_result

SIGNUP_LINK = re.compile(r"/#/signup/confirm\?token=([A-Za-z0-9_-]+)")

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {402, 409, 429}
THEMES_FALLBACK = ["pixel-heroes"]


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.errors: list[str] = []

    def record(self, name: str, status: int | str, ms: float) -> None:
        self.latency[name].append(ms)
        self.status[name][str(status)] += 1
        if not (isinstance(status, int) and (status < 400 or status in EXPECTED)):
            if len(self.errors) < 50:
                self.errors.append(f"{name}: {status}")

    def error_count(self) -> int:
        return sum(n for counts in self.status.values() for s, n in counts.items()
                   if not (s.isdigit() and (int(s) < 400 or int(s) in EXPECTED)))


class Person:
    def __init__(self, n: int, url: str, stripe_base: str, stats: Stats, stop_at: float) -> None:
        self.ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255 or 1}"
        self.http = httpx.AsyncClient(base_url=url, timeout=30, headers={"X-Forwarded-For": self.ip})
        self.stripe_base = stripe_base
        self.stats = stats
        self.stop_at = stop_at
        self.owned: list[str] = []
        self.rng = random.Random(n)

    async def call(self, name: str, method: str, path: str, **kwargs) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            r = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.stats.record(name, type(exc).__name__, (time.perf_counter() - t0) * 1000)
            return None
        self.stats.record(name, r.status_code, (time.perf_counter() - t0) * 1000)
        if r.status_code == 429:
            await asyncio.sleep(min(float(r.headers.get("Retry-After", "1")), 30))
        return r

    async def pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))

    async def start(self, publishable_key: str) -> bool:
        await self.http.get("/api/config")  # the CSRF cookie, echoed in a header as the frontend does
        self.http.headers["X-CSRF-Token"] = self.http.cookies.get("csrftoken", "")
        email = f"load-{uuid.uuid4().hex[:12]}@players.effigies.fr"
        r = await self.call("POST /api/auth/signup", "POST", "/api/auth/signup", json={
            "email": email, "password": "load-test-password", "display_name": f"Joueur {self.ip}"})
        if r is None or r.status_code != 202:
            return False
        # The account is made by the e-mailed link: read it from the embedded SMTP sink's outbox
        # (local mode), as the person would open it from their mail.
        r = await self.call("GET /api/mail/outbox", "GET", "/api/mail/outbox", params={"to": email})
        found = SIGNUP_LINK.search(" ".join(m["text"] for m in r.json()["messages"])) if r is not None and r.status_code == 200 else None
        if found is None:
            self.stats.record("sign-up link in the outbox", "missing", 0)
            return False
        r = await self.call("POST /api/auth/signup/confirm", "POST", "/api/auth/signup/confirm",
                            json={"token": found.group(1)})
        if r is None or r.status_code != 200:
            return False
        self.http.headers["X-CSRF-Token"] = self.http.cookies.get("csrftoken", "")
        # The wallet page's flow: a SetupIntent from us, confirmed at Stripe with the card and the
        # publishable key (what stripe.js's confirmCardSetup sends), then our top-up endpoint.
        r = await self.call("POST /api/wallet/setup-intents", "POST", "/api/wallet/setup-intents")
        if r is None or r.status_code != 201:
            return False
        secret = r.json()["client_secret"]
        t0 = time.perf_counter()
        seti = await self.http.post(f"{self.stripe_base}/v1/setup_intents/{secret.split('_secret_')[0]}/confirm", json={
            "key": publishable_key, "use_stripe_sdk": True, "client_secret": secret,
            "payment_method_data": {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12,
                                                             "exp_year": 2034, "cvc": "123"}}})
        self.stats.record("stripe: confirm SetupIntent", seti.status_code, (time.perf_counter() - t0) * 1000)
        if seti.status_code != 200 or seti.json().get("status") != "succeeded":
            return False
        pm_id = seti.json()["payment_method"]
        r = await self.call("POST /api/wallet/topups", "POST", "/api/wallet/topups",
                            json={"amount_cents": 100, "payment_method_id": pm_id})
        if r is None or r.status_code != 201:
            return False
        topup = r.json()["id"]
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            r = await self.call("GET /api/wallet/topups/{id}", "GET", f"/api/wallet/topups/{topup}")
            if r is not None and r.status_code == 200 and r.json()["status"] != "pending":
                return r.json()["status"] == "succeeded"
            await asyncio.sleep(0.5)
        self.stats.record("top-up credited (webhook)", "timeout", 30000)
        return False

    async def generate(self, theme: str, name: str) -> list[str]:
        t0 = time.perf_counter()
        r = await self.call(name, "POST", f"/api/themes/{theme}/generations", json={"count": 4})
        if r is None or r.status_code != 202:
            return []
        job = r.json()["id"]
        status = "timeout"
        try:
            async with self.http.stream("GET", f"/api/generations/{job}/events") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        status = json.loads(line[5:])["status"]
                        if status in ("done", "failed"):
                            break
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        # What the person waits for: from the click to the candidates on screen.
        self.stats.record("generation: POST → candidates ready", 200 if status == "done" else status,
                          (time.perf_counter() - t0) * 1000)
        if status != "done":
            return []
        r = await self.call("GET /api/generations/{id}", "GET", f"/api/generations/{job}")
        if r is None or r.status_code != 200:
            return []
        candidates = [c["id"] for c in r.json()["candidates"]]
        if candidates:
            await self.call("GET /api/candidates/{id}/preview.webp", "GET",
                            f"/api/candidates/{self.rng.choice(candidates)}/preview.webp")
        return candidates

    async def run(self, themes: list[str]) -> None:
        round_ = 0
        while time.monotonic() < self.stop_at:
            theme = self.rng.choice(themes)
            candidates = await self.generate(theme, "POST /api/themes/{slug}/generations")
            await self.pause()
            if self.rng.random() < 0.5 and time.monotonic() < self.stop_at:
                candidates = await self.generate(theme, "POST /api/themes/{slug}/generations") or candidates
                await self.pause()
            round_ += 1
            if candidates and round_ % 3 == 0:
                r = await self.call("POST /api/candidates/{id}/purchase", "POST",
                                    f"/api/candidates/{self.rng.choice(candidates)}/purchase",
                                    json={"withdrawal_waiver": True}, headers={"Idempotency-Key": uuid.uuid4().hex})
                if r is not None and r.status_code == 201:
                    self.owned.append(r.json()["avatar"]["public_id"])
                await self.pause()
            if self.owned:
                public_id = self.rng.choice(self.owned)
                for size in self.rng.sample([64, 128, 256, 512], 2):
                    await self.call("GET /a/{id}.png?s=N", "GET", f"/a/{public_id}.png", params={"s": size})
            await self.call("GET /api/me/avatars", "GET", "/api/me/avatars")
            await self.call("GET /api/wallet", "GET", "/api/wallet")
            await self.pause()


def rss_mb(root_pid: int) -> dict[str, float]:
    """Resident memory of the stack's Python processes, by role (summed over a role's processes)."""
    out: dict[str, float] = defaultdict(float)
    try:
        procs = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    for p in procs:
        try:
            cmd = " ".join(p.cmdline())
            rss = p.memory_info().rss / 2**20
        except psutil.Error:
            continue
        if "effigies.cli" not in cmd and "effigies " not in cmd:
            continue
        role = ("worker (train)" if "train" in cmd else "worker (generate)" if "worker" in cmd
                else "api" if " api" in cmd else None)
        if role:
            out[role] += rss
    return dict(out)


def start_stack(tmp: Path, console: Console) -> tuple[subprocess.Popen, str, str]:
    from effigies.embedded._proc import free_port

    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY",
                        "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE")}
    port, stripe_port = free_port(), free_port()
    env.update({"EE_DATA_DIR": str(tmp / "data"), "EE_PORT": str(port), "EE_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "EE_EMBEDDED_POSTGRES_PORT": str(free_port()), "EE_EMBEDDED_REDIS_PORT": str(free_port()),
                "EE_EMBEDDED_STRIPE_PORT": str(stripe_port)})
    log = open(tmp / "up.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "effigies.cli", "up"], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    with console.status("starting `effigies up`…"):
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"effigies up exited ({proc.returncode}); see {tmp / 'up.log'}")
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    return proc, url, f"http://127.0.0.1:{stripe_port}"
            except httpx.HTTPError:
                pass
            time.sleep(1)
    raise SystemExit("effigies up not healthy after 240 s")


async def load(url: str, stripe_base: str, users: int, seconds: float, root_pid: int | None,
               console: Console) -> dict:
    config = httpx.get(url + "/api/config").json()
    themes = [t["slug"] for t in httpx.get(url + "/api/themes").json()] or THEMES_FALLBACK
    stats = Stats()
    stop_at = time.monotonic() + seconds
    people = [Person(n + 1, url, stripe_base, stats, stop_at) for n in range(users)]
    started = await asyncio.gather(*(p.start(config["stripe_publishable_key"]) for p in people))
    console.print(f"{sum(started)}/{users} people signed up and topped up €1")
    warm = {"rss_mb": {}}

    async def sample_rss_after_warmup() -> None:
        await asyncio.sleep(min(60, seconds / 3))
        if root_pid:
            warm["rss_mb"] = rss_mb(root_pid)

    t0 = time.perf_counter()
    await asyncio.gather(sample_rss_after_warmup(), *(p.run(themes) for p, ok in zip(people, started) if ok))
    elapsed = time.perf_counter() - t0
    end_rss = rss_mb(root_pid) if root_pid else {}
    for p in people:
        await p.http.aclose()
    endpoints = {}
    for name, values in sorted(stats.latency.items()):
        endpoints[name] = {"count": len(values), "status": dict(stats.status[name]),
                           **{f"p{q}_ms": float(np.percentile(values, q)) for q in (50, 95, 99)}}
    return {"users": users, "seconds": elapsed, "people_started": sum(started), "endpoints": endpoints,
            "errors": stats.error_count(), "error_examples": stats.errors,
            "rss_mb_after_warmup": warm["rss_mb"], "rss_mb_end": end_rss,
            "purchases": sum(len(p.owned) for p in people)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--url", help="a running stack instead of starting `effigies up`")
    parser.add_argument("--stripe-base", help="its localstripe (with --url)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "load.json")
    args = parser.parse_args()
    console = Console(width=max(120, Console().width))  # the table is read in CI logs too
    with tempfile.TemporaryDirectory(prefix="ee-load-") as tmp:
        proc = None
        if args.url:
            url, stripe_base = args.url.rstrip("/"), (args.stripe_base or "").rstrip("/")
        else:
            proc, url, stripe_base = start_stack(Path(tmp), console)
        try:
            result = asyncio.run(load(url, stripe_base, args.users, args.seconds, proc.pid if proc else None,
                                      console))
        finally:
            if proc is not None:
                os.killpg(proc.pid, signal.SIGINT)  # `effigies up` stops its children and servers
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
    table = Table(title=f"{args.users} simulated people, {result['seconds']:.0f} s, `effigies up` (embedded)")
    for col in ("endpoint", "requests", "p50 ms", "p95 ms", "p99 ms", "statuses"):
        table.add_column(col, justify="left" if col in ("endpoint", "statuses") else "right", no_wrap=True)
    for name, e in result["endpoints"].items():
        table.add_row(name, str(e["count"]), f"{e['p50_ms']:.0f}", f"{e['p95_ms']:.0f}", f"{e['p99_ms']:.0f}",
                      " ".join(f"{s}×{n}" for s, n in sorted(e["status"].items())))
    console.print(table)
    memory = Table(title="resident memory (MB)")
    for col in ("process", "after warm-up", "end", "growth"):
        memory.add_column(col, justify="right")
    for role, before in sorted(result["rss_mb_after_warmup"].items()):
        after = result["rss_mb_end"].get(role, float("nan"))
        memory.add_row(role, f"{before:.0f}", f"{after:.0f}", f"{after - before:+.0f}")
    console.print(memory)
    console.print(f"purchases: {result['purchases']}; errors (not 2xx/3xx/402/409/429): {result['errors']}")
    for line in result["error_examples"][:10]:
        console.print(f"  {line}")
    write_result(args.out, {"machine": machine(), **result}, console)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
