"""What every scripts/bench_*.py shares: the machine it ran on and the JSON it leaves in benchmarks/."""
from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(**extra: Any) -> dict[str, Any]:
    """CPU, cores, OS and Python, plus whatever the benchmark adds (threads, torch, load...)."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), **extra}


def write_result(out: Path, payload: dict[str, Any], console) -> None:
    """``payload`` with the date first, as indented JSON at ``out``; says where."""
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), **payload}
    out.write_text(json.dumps(record, indent=2) + "\n")
    console.print(f"written {out}")
