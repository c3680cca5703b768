"""The load generator of scripts/bench_avatar_url.py: raw HTTP/1.1 over keep-alive connections.

One asyncio (uvloop) thread, minimal parsing (status line, Content-Length): at most one core, far
less than a Python HTTP client would eat. Each connection sends its next request as soon as the
previous response is complete (closed loop), going round its list of requests.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter

import numpy as np
import psutil

try:
    from uvloop import run as run_loop  # cheaper per request than asyncio's own loop: more CPU left for the server
except ImportError:  # pragma: no cover
    run_loop = asyncio.run


class Connection(asyncio.Protocol):
    """One keep-alive connection sending the next request as soon as a response is complete;
    ``limit`` requests at most (None: until the run's deadline)."""

    def __init__(self, run: Run, requests: list[bytes], offset: int, limit: int | None = None) -> None:
        self.run, self.requests, self.turn, self.limit = run, requests, offset, limit
        self.head = bytearray()
        self.remaining = -1  # body bytes still to come; -1 while reading the head
        self.status = 0
        self.closed = run.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        self.turn += 1
        self.started = time.perf_counter()
        self.transport.write(self.requests[self.turn % len(self.requests)])

    def data_received(self, data: bytes) -> None:
        if self.remaining < 0:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self.head[9:12])
            length = 0
            lower = bytes(self.head[:end]).lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                length = int(lower[at + 17:lower.find(b"\r\n", at + 2)])
            self.remaining = length - (len(self.head) - end - 4)
            self.head.clear()
        else:
            self.remaining -= len(data)
        if self.remaining <= 0:
            self.remaining = -1
            now = time.perf_counter()
            self.run.done(now - self.started, self.status, now)
            if self.limit is not None:
                self.limit -= 1
            if now < self.run.deadline and self.limit != 0:
                self._send()
            else:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.perf_counter() < self.run.deadline and self.limit != 0:
            self.run.errors += 1  # the server hung up on us mid-run
        self.closed.set_result(None)


class Run:
    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float, expect: int) -> None:
        self.loop, self.expect = loop, expect
        self.deadline = time.perf_counter() + seconds
        self.latencies: list[float] = []
        self.finished: list[float] = []  # perf_counter() at each expected response, for windows
        self.statuses: Counter[int] = Counter()
        self.errors = 0

    def done(self, latency: float, status: int, now: float) -> None:
        self.statuses[status] += 1
        if status == self.expect:
            self.latencies.append(latency)
            self.finished.append(now)
        else:
            self.errors += 1

    def window_ms(self, start: float, end: float) -> np.ndarray:
        """Latencies (ms) of the expected responses that completed between start and end."""
        at, ms = np.array(self.finished), np.array(self.latencies) * 1000
        return ms[(at >= start) & (at <= end)] if len(at) else ms


async def load(port: int, requests: list[bytes], connections: int, seconds: float, expect: int,
               limit: int | None = None) -> Run:
    """``connections`` connections for ``seconds`` (or ``limit`` requests each), responses expected ``expect``."""
    loop = asyncio.get_running_loop()
    run = Run(loop, seconds, expect)
    opened = [await loop.create_connection(lambda i=i: Connection(run, requests, i, limit), "127.0.0.1", port)
              for i in range(connections)]
    await asyncio.gather(*(protocol.closed for _, protocol in opened))
    return run


def request(port: int, path: str, etag: str | None = None) -> bytes:
    extra = f"If-None-Match: {etag}\r\n" if etag else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\n{extra}\r\n".encode()


def api_workers(api_pid: int) -> list[psutil.Process]:
    """uvicorn's worker processes (multiprocessing spawns them); the API process itself with one."""
    api = psutil.Process(api_pid)
    workers = [c for c in api.children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
    return workers or [api]


def cpu_seconds(api_pid: int) -> dict[str, float]:
    def used(p: psutil.Process) -> float:
        times = p.cpu_times()
        return times.user + times.system

    api = psutil.Process(api_pid)
    children = api.children(recursive=True)
    return {"client": used(psutil.Process()), "server": used(api) + sum(used(c) for c in children),
            # uvicorn's worker processes, to see the load spread.
            "server_processes": [used(c) for c in children if "spawn_main" in " ".join(c.cmdline())]}


def percentiles(ms: np.ndarray) -> dict[str, float]:
    return {f"p{p}_ms": float(np.percentile(ms, p)) if len(ms) else float("nan") for p in (50, 95, 99)}


def measure(port: int, api_pid: int, requests: list[bytes], connections: int, seconds: float, expect: int) -> dict:
    before, t0 = cpu_seconds(api_pid), time.perf_counter()
    run = run_loop(load(port, requests, connections, seconds, expect))
    elapsed, after = time.perf_counter() - t0, cpu_seconds(api_pid)
    ms = np.array(run.latencies) * 1000
    return {
        "connections": connections, "seconds": round(elapsed, 2), "requests": len(ms), "errors": run.errors,
        "req_per_s": len(ms) / elapsed, **percentiles(ms),
        "client_cpu_pct": 100 * (after["client"] - before["client"]) / elapsed,
        "server_cpu_pct": 100 * (after["server"] - before["server"]) / elapsed,
        "server_cpu_pct_per_process": [round(100 * (a - b) / elapsed, 1) for a, b in
                                       zip(after["server_processes"], before["server_processes"])],
    }
