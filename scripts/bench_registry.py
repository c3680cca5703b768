#!/usr/bin/env python3
"""Registry lookups and claims at 10^6 and 10^7 fingerprints: multi-index hashing vs a full scan.

    .venv/bin/python scripts/bench_registry.py                 # 10^6 then 10^7 rows
    .venv/bin/python scripts/bench_registry.py --sizes 100000  # quick check

Creates a scratch database next to DATABASE_URL's (ee_bench_registry, dropped at the end
unless --keep), migrates it with the real migrations, fills registry_entries by COPY with
uniformly random 256-bit fingerprints (band indexes dropped during the load and rebuilt,
as a bulk import would), then on the same data and in the same run measures:
  - check latency of the service's lookup (effigies.uniqueness.service.is_taken, the check
    generation and purchases make),
    for misses (random queries: the common case, a fresh image) and hits (a stored
    fingerprint with R/2 bits flipped), p50/p99 over --queries each;
  - the same check as a full scan (bit_count over every row), over --scan-queries misses;
  - claims/s: --threads connections each claiming random fingerprints for --seconds
    (advisory locks + lookup + insert + commit, the purchase's uniqueness part).
Prints a table and writes benchmarks/registry.json.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

import numpy as np
from pathlib import Path
import psycopg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from benchlib import machine, write_result
import effigies.models  # noqa: F401  (every table: flushes resolve foreign keys)
from effigies.db import sqlalchemy_url
from effigies.uniqueness import service
from effigies.uniqueness.fingerprint import BITS, BYTES, to_bitstring
from effigies.uniqueness.index import BANDS, band_values, band_width, probe_count

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DB_NAME = "ee_bench_registry"


def bands_of(packed: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 -> (n, BANDS) int64, exactly as effigies.uniqueness.index.band_values."""
    bits = np.unpackbits(packed, axis=1).astype(np.int64)
    out = np.zeros((len(packed), BANDS), dtype=np.int64)
    for band in range(BANDS):
        columns = bits[:, band::BANDS]
        weights = 1 << np.arange(band_width(band) - 1, -1, -1, dtype=np.int64)
        out[:, band] = columns @ weights
    return out


def fill(conn: psycopg.Connection, rows: int, rng: np.random.Generator, progress: Progress) -> None:
    columns = ", ".join(["fingerprint", "kind", *(f"band{b}" for b in range(BANDS))])
    task = progress.add_task(f"COPY {rows:,} rows", total=rows)
    with conn.cursor() as cur:
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            packed = rng.integers(0, 256, size=(n, BYTES), dtype=np.uint8)
            ascii_bits = (np.unpackbits(packed, axis=1) + ord("0")).astype(np.uint8)
            bands = bands_of(packed)
            assert bands[0].tolist() == band_values(packed[0].tobytes()), "bands_of must match the service"
            lines = []
            for bits_row, band_row in zip(ascii_bits, bands):
                lines.append(bits_row.tobytes() + b"\tsold\t" + "\t".join(map(str, band_row)).encode() + b"\n")
            with cur.copy(f"COPY registry_entries ({columns}) FROM STDIN") as copy:
                copy.write(b"".join(lines))
            progress.advance(task, n)
    conn.commit()


def rebuild_band_indexes(conn: psycopg.Connection, progress: Progress) -> None:
    task = progress.add_task("band indexes", total=BANDS)
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        for band in range(BANDS):
            cur.execute(f"DROP INDEX IF EXISTS ix_registry_entries_band{band}")
            cur.execute(f"CREATE INDEX ix_registry_entries_band{band} ON registry_entries (band{band})")
            progress.advance(task)
        cur.execute("VACUUM ANALYZE registry_entries" if conn.autocommit else "ANALYZE registry_entries")
    conn.commit()


def drop_band_indexes(conn: psycopg.Connection) -> None:
    with conn.cursor() as cur:
        for band in range(BANDS):
            cur.execute(f"DROP INDEX IF EXISTS ix_registry_entries_band{band}")
    conn.commit()


def sample_stored(conn: psycopg.Connection, n: int) -> list[bytes]:
    with conn.cursor() as cur:
        cur.execute("SELECT fingerprint::text FROM registry_entries TABLESAMPLE SYSTEM (1) LIMIT %s", (n,))
        return [int(r[0], 2).to_bytes(BYTES, "big") for r in cur.fetchall()]


def flip(value: bytes, rng: np.random.Generator, k: int) -> bytes:
    number = int.from_bytes(value, "big")
    for p in rng.choice(BITS, size=k, replace=False):
        number ^= 1 << int(p)
    return number.to_bytes(BYTES, "big")


def timed(fn, queries: list[bytes]) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(engine, conn: psycopg.Connection, *, rows: int, radius: int, args, rng: np.random.Generator) -> dict:
    misses = [rng.integers(0, 256, size=BYTES, dtype=np.uint8).tobytes() for _ in range(args.queries)]
    hits = [flip(v, rng, radius // 2) for v in sample_stored(conn, args.queries)]
    with Session(engine) as session:
        lookup = lambda q: service.is_taken(session=session, value=q, radius=radius)  # noqa: E731
        timed(lookup, misses[:20])  # warm the plan cache and the index pages
        index_miss, index_hit = timed(lookup, misses), timed(lookup, hits)
        found = sum(bool(lookup(q)) for q in hits)
        session.rollback()
    with conn.cursor() as cur:
        scan_sql = "SELECT 1 FROM registry_entries WHERE bit_count(fingerprint # %s::bit(256)) <= %s LIMIT 1"
        scan = timed(lambda q: cur.execute(scan_sql, (to_bitstring(q), radius)).fetchall(), misses[: args.scan_queries])
    conn.commit()
    claims = claims_per_second(engine, radius=radius, threads=args.threads, seconds=args.seconds, seed=rows)
    return {
        "rows": rows,
        "index_miss_ms": {"p50": pct(index_miss, 50), "p99": pct(index_miss, 99), "n": len(index_miss)},
        "index_hit_ms": {"p50": pct(index_hit, 50), "p99": pct(index_hit, 99), "n": len(index_hit)},
        "hits_found": f"{found}/{len(hits)}",
        "scan_ms": {"p50": pct(scan, 50), "p99": pct(scan, 99), "n": len(scan)},
        "speedup_p50": pct(scan, 50) / pct(index_miss, 50),
        "claims_per_s": claims,
    }


def claims_per_second(engine, *, radius: int, threads: int, seconds: float, seed: int) -> float:
    """Claims of fresh random fingerprints (a new `seed` per round: a round must not re-claim
    the previous round's fingerprints, which the registry would rightly refuse)."""
    done = [0] * threads
    errors: list[BaseException] = []
    refused = [0]
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        rng = np.random.default_rng([seed, i])
        while time.monotonic() < stop:
            value = rng.integers(0, 256, size=BYTES, dtype=np.uint8).tobytes()
            with Session(engine) as session:
                try:
                    service.claim(session=session, value=value, radius=radius)
                    service.register(session=session, value=value, kind="sold")
                    session.commit()
                    done[i] += 1
                except service.UniquenessError:  # a random fingerprint: only ever by chance
                    session.rollback()
                    refused[0] += 1
                except Exception as exc:  # a broken benchmark must say so, not report 0/s
                    errors.append(exc)
                    return

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} claim threads failed") from errors[0]
    if refused[0]:
        raise RuntimeError(f"{refused[0]} random claims refused: the data or the seeds are not independent")
    return sum(done) / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--radius", type=int, default=20)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--scan-queries", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--out", type=Path, default=Path(ROOT) / "benchmarks" / "registry.json")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL")
    if not server:
        parser.error("set DATABASE_URL (any database on the server; a scratch one is created beside it)")
    base = server.rsplit("/", 1)[0]
    url = f"{base}/{DB_NAME}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}"')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "-m", "effigies.cli", "db", "upgrade"], check=True, cwd=ROOT,
                   env={**os.environ, "DATABASE_URL": url}, capture_output=True)
    engine = create_engine(sqlalchemy_url(url), pool_size=args.threads + 2)
    console = Console()
    rng = np.random.default_rng(0)
    results = []
    try:
        with psycopg.connect(url) as conn, Progress(console=console) as progress:
            loaded = 0
            for size in sorted(args.sizes):
                drop_band_indexes(conn)
                fill(conn, size - loaded, rng, progress)
                loaded = size
                rebuild_band_indexes(conn, progress)
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_total_relation_size('registry_entries'), pg_indexes_size('registry_entries')")
                    total, indexes = cur.fetchone()
                result = measure(engine, conn, rows=size, radius=args.radius, args=args, rng=rng)
                result.update({"table_and_indexes_mb": total / 2**20, "indexes_mb": indexes / 2**20})
                results.append(result)
    finally:
        engine.dispose()
        if not args.keep:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}"')

    table = Table(title=f"Registry check, R = {args.radius} of 256 bits, {BANDS} bands, {probe_count(args.radius)} probes")
    for col in ("rows", "index miss p50 / p99 ms", "index hit p50 / p99 ms", "full scan p50 / p99 ms",
                "speed-up (p50)", "claims/s", "table+indexes"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(f"{r['rows']:,}",
                      f"{r['index_miss_ms']['p50']:.2f} / {r['index_miss_ms']['p99']:.2f}",
                      f"{r['index_hit_ms']['p50']:.2f} / {r['index_hit_ms']['p99']:.2f}",
                      f"{r['scan_ms']['p50']:.0f} / {r['scan_ms']['p99']:.0f}",
                      f"{r['speedup_p50']:.0f}x", f"{r['claims_per_s']:.0f}",
                      f"{r['table_and_indexes_mb'] / 1024:.1f} GB")
    console.print(table)
    with psycopg.connect(server) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    write_result(args.out, {"machine": machine(postgresql=pg_version, threads=args.threads), "radius": args.radius,
                            "bands": BANDS, "probes": probe_count(args.radius), "results": results}, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
