#!/usr/bin/env python3
"""In-process generation speed of each theme's generator: candidates/s with nothing in the way.

    .venv/bin/python scripts/bench_sampling.py                        # shipped generators
    .venv/bin/python scripts/bench_sampling.py --before var/before    # ...and older ones beside them

What one process of this machine does with no web, queue or database: the generator's forward
pass in batches of 64, then the registry fingerprint and the PNG of each candidate, on every
core (bench_generate.py's in-process limit, for every theme). ``--before DIR`` also measures
the generator folders DIR/<slug> (e.g. the previous shipped generators, `git show`n there), so
a recipe that costs more says by how much. Prints a table and writes benchmarks/sampling.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_generate import in_process_limit  # noqa: E402
from benchlib import machine, write_result  # noqa: E402

from effigies.themes.service import BUILTIN_THEMES, PRETRAINED_DIR  # noqa: E402

BATCH = 64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="folder of older generator folders, one per slug")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "sampling.json")
    args = parser.parse_args(argv)
    console = Console()
    rows = []
    for spec in BUILTIN_THEMES:
        row = {"theme": spec.slug, "candidates_per_s": round(in_process_limit(PRETRAINED_DIR / spec.slug, BATCH, args.seconds), 1)}
        if args.before and (args.before / spec.slug).is_dir():
            row["before_candidates_per_s"] = round(in_process_limit(args.before / spec.slug, BATCH, args.seconds), 1)
        rows.append(row)
        console.print(row)
    table = Table(title=f"In-process candidates/s (batch {BATCH}: forward pass + fingerprint + PNG)")
    for col in ("theme", "now", "before"):
        table.add_column(col, justify="left" if col == "theme" else "right")
    for r in rows:
        table.add_row(r["theme"], f"{r['candidates_per_s']:,.0f}", f"{r.get('before_candidates_per_s', 0):,.0f}")
    console.print(table)
    write_result(args.out, {"machine": machine(), "batch": BATCH, "seconds": args.seconds, "results": rows}, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
