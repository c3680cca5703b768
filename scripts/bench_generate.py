#!/usr/bin/env python3
"""Generation under load: 1, 5, 20 and 50 simulated users against the whole embedded stack.

    .venv/bin/python scripts/bench_generate.py                  # ~2 minutes
    .venv/bin/python scripts/bench_generate.py --users 1 20 --seconds 10

Starts what `effigies up` starts (embedded PostgreSQL and Valkey from pip wheels, one Celery
worker with its threads and micro-batcher, the API with uvicorn) in a scratch data folder,
with the rate limits raised (every simulated user comes from 127.0.0.1). Each user, in a
loop for --seconds: POST a generation of 4 candidates, wait for its Server-Sent Event
"done", repeat. Measured: p50/p95 from POST to candidates ready, jobs/s.
The in-process limit is what one process of this machine does with no web, queue or
database in the way: the same generator's forward pass in batches of B, plus fingerprint and
PNG of each candidate, using every core. efficiency = jobs/s served / in-process jobs/s.
Prints a table and writes benchmarks/generate.json.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from benchlib import machine, write_result

ROOT = Path(__file__).resolve().parents[1]
THEME = "pixel-heroes"
COUNT = 4


def in_process_limit(slug: str | Path, batch: int, seconds: float = 5.0) -> float:
    """Candidates/s: forward pass in batches of `batch`, then fingerprint + PNG of each image
    (``slug``: a shipped theme, or a generator folder)."""
    from effigies.gan.checkpoint import load_generator
    from effigies.gan.sample import latents, sample
    from effigies.uniqueness.fingerprint import fingerprint

    torch.set_num_threads(os.cpu_count() or 1)
    folder = slug if isinstance(slug, Path) else ROOT / "effigies" / "themes" / "pretrained" / slug
    generator, config = load_generator(folder)
    done, seed, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for array in sample(generator, latents(batch, config.nz, seed=seed)):
            image = Image.fromarray(array)
            fingerprint(image)
            image.save(io.BytesIO(), format="PNG", compress_level=6)  # as the worker writes it
        done += batch
        seed += 1
    return done / (time.perf_counter() - t0)


def make_clients(url: str, n: int) -> list[httpx.Client]:
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope

    clients = []
    with session_scope() as session:
        for _ in range(n):
            user = accounts_service.signup(session=session, email=f"bench-{uuid.uuid4().hex[:10]}@players.effigies.fr",
                                           password="bench-password-123", display_name="Bench")
            token = accounts_service.open_session(session=session, user=user)
            c = httpx.Client(base_url=url, timeout=30)
            c.cookies.set("ee_session", token)
            c.get("/api/config")  # hands out the CSRF cookie, echoed in a header like the frontend does
            c.headers["X-CSRF-Token"] = c.cookies.get("csrftoken", "")
            clients.append(c)
    return clients


def one_job(client: httpx.Client) -> float:
    t0 = time.perf_counter()
    r = client.post(f"/api/themes/{THEME}/generations", json={"count": COUNT})
    r.raise_for_status()
    job_id = r.json()["id"]
    with client.stream("GET", f"/api/generations/{job_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and json.loads(line[5:])["status"] in ("done", "failed"):
                break
    return (time.perf_counter() - t0) * 1000


def cpu_seconds(api: int, worker: int, servers_dir: Path) -> dict[str, float]:
    """CPU time used so far by each part of the stack (this benchmark's own process included)."""
    import psutil

    def tree(root: psutil.Process) -> float:
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            try:
                total += sum(p.cpu_times()[:2])
            except psutil.NoSuchProcess:
                pass
        return total

    out = {"api": tree(psutil.Process(api)), "worker": tree(psutil.Process(worker)), "postgres": 0.0, "valkey": 0.0,
           "benchmark client": sum(psutil.Process().cpu_times()[:2])}
    for p in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if str(servers_dir) in cmdline:  # the embedded servers' parents: postmaster and valkey-server
            kind = "postgres" if "postgres" in (p.info["name"] or "") else "valkey" if "valkey" in cmdline else None
            if kind:
                out[kind] += tree(p)
    return out


def load(clients: list[httpx.Client], seconds: float, procs: tuple[int, int, Path]) -> dict:
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def user(c: httpx.Client) -> None:
        while time.monotonic() < stop:
            try:
                ms = one_job(c)
            except httpx.HTTPError:
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append(ms)

    threads = [threading.Thread(target=user, args=(c,)) for c in clients]
    cpu0 = cpu_seconds(*procs)
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu1 = cpu_seconds(*procs)
    per_job = {k: 1000 * (cpu1[k] - cpu0[k]) / max(1, len(latencies)) for k in cpu0}
    return {"users": len(clients), "jobs": len(latencies), "errors": errors[0], "cpu_ms_per_job": per_job,
            "p50_ms": float(np.percentile(latencies, 50)) if latencies else None,
            "p95_ms": float(np.percentile(latencies, 95)) if latencies else None,
            "jobs_per_s": len(latencies) / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=16, help="worker threads (jobs in flight)")
    parser.add_argument("--max-batch", type=int, help="EE_GENERATION_MAX_BATCH for the worker (default: the setting)")
    parser.add_argument("--max-wait-ms", type=float, help="EE_GENERATION_MAX_WAIT_MS for the worker")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "generate.json")
    args = parser.parse_args()
    console = Console()
    for name in ("DATABASE_URL", "REDIS_URL"):  # the embedded default, as `make run` on a fresh machine
        os.environ.pop(name, None)
    from effigies.config import get_settings
    from effigies.embedded import embedded_services
    from effigies.embedded._proc import free_port

    results = []
    with tempfile.TemporaryDirectory(prefix="ee-bench-") as tmp, embedded_services(Path(tmp) / "servers") as services:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **services, "EE_DATA_DIR": str(Path(tmp) / "data"), "EE_PORT": str(port),
               "EE_PUBLIC_URL": url, "EE_GENERATION_RATE_PER_USER": "100000", "EE_GENERATION_RATE_PER_IP": "100000"}
        if args.max_batch:
            env["EE_GENERATION_MAX_BATCH"] = str(args.max_batch)
        if args.max_wait_ms is not None:
            env["EE_GENERATION_MAX_WAIT_MS"] = str(args.max_wait_ms)
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        subprocess.run([sys.executable, "-m", "effigies.cli", "db", "upgrade"], env=env, check=True, cwd=ROOT,
                       capture_output=True)
        logs = Path(tmp) / "logs"
        logs.mkdir()
        procs = [subprocess.Popen([sys.executable, "-m", "effigies.cli", *cmd], env=env, cwd=ROOT,
                                  stdout=open(logs / f"{cmd[0]}.log", "wb"), stderr=subprocess.STDOUT)
                 for cmd in (["worker", "--concurrency", str(args.threads)], ["api"])]
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.5)
            clients = make_clients(url, max(args.users))
            one_job(clients[0])  # the worker loads the generator on first use: not timed
            for n in sorted(args.users):
                results.append(load(clients[:n], args.seconds, (procs[1].pid, procs[0].pid, Path(tmp) / "servers")))
                console.print(results[-1])
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
    # The machine's best, whatever B the worker was given: batches of at least 64.
    limit_candidates = in_process_limit(THEME, max(64, settings.generation_max_batch))
    limit_jobs = limit_candidates / COUNT
    table = Table(title=f"{THEME}: POST → {COUNT} candidates ready (SSE), B = {settings.generation_max_batch}, "
                        f"W = {settings.generation_max_wait_ms:g} ms, {args.threads} worker threads")
    for col in ("users", "jobs", "p50 ms", "p95 ms", "jobs/s", "efficiency", "errors"):
        table.add_column(col, justify="right")
    for r in results:
        r["efficiency"] = r["jobs_per_s"] / limit_jobs
        table.add_row(str(r["users"]), str(r["jobs"]), f"{r['p50_ms']:.0f}", f"{r['p95_ms']:.0f}",
                      f"{r['jobs_per_s']:.1f}", f"{r['efficiency']:.0%}", str(r["errors"]))
    console.print(table)
    console.print(f"in-process limit: {limit_candidates:.0f} candidates/s = {limit_jobs:.1f} jobs/s of {COUNT}")
    write_result(args.out, {"machine": machine(), "theme": THEME, "count": COUNT,
                            "max_batch": settings.generation_max_batch, "max_wait_ms": settings.generation_max_wait_ms,
                            "worker_threads": args.threads, "in_process_candidates_per_s": limit_candidates,
                            "in_process_jobs_per_s": limit_jobs, "results": results}, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
