"""A training run told as a story: a dozen sample grids from first to last, and the losses.

Shipped beside a generator (``<weights>/timeline/``) so the app can show people how the
generator learned: the grids use the run's fixed latents, so the same faces emerge from
noise frame after frame. Frames are spread evenly in log(images seen): the early steps,
where most of the change happens, get as many frames as the long polishing at the end.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from PIL import Image

# Where a model version's folder keeps it: the themes' side reads it (effigies.themes.learning).
from effigies.themes.learning import TIMELINE_DIR, TIMELINE_FILE
_STEP = re.compile(r"^step_(\d+)\.png$")


def _pick(steps: list[int], count: int) -> list[int]:
    """Up to `count` steps spread evenly in log(step + 1), always the first and the last."""
    if len(steps) <= count:
        return steps
    low, high = math.log1p(steps[0]), math.log1p(steps[-1])
    chosen = {steps[0], steps[-1]}
    for k in range(1, count - 1):
        target = low + (high - low) * k / (count - 1)
        # The nearest step not taken yet: early targets crowd onto the few first grids.
        chosen.add(min((s for s in steps if s not in chosen), key=lambda s: abs(math.log1p(s) - target)))
    return sorted(chosen)


def _stats(stats_file: Path) -> list[tuple[int, int, float, float]]:
    """(step, images, loss_d, loss_g) per logged step."""
    rows = []
    if stats_file.is_file():
        for line in stats_file.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
                rows.append((int(r["step"]), int(r["images"]), float(r["loss_d"]), float(r["loss_g"])))
            except (ValueError, KeyError, TypeError):
                continue
    return rows


def _losses(stats: list[tuple[int, int, float, float]], points: int) -> list[list[float]]:
    """[[images, loss_d, loss_g], ...], averaged over equal slices of the run (the raw curve is noise)."""
    rows = [r[1:] for r in stats]
    if not rows:
        return []
    size = max(1, math.ceil(len(rows) / points))
    out = []
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        out.append([chunk[-1][0], round(sum(r[1] for r in chunk) / len(chunk), 4),
                    round(sum(r[2] for r in chunk) / len(chunk), 4)])
    return out


def export_timeline(
    run_dir: str | Path, weights_dir: str | Path, *, frames: int = 12, points: int = 200, replay: bool = False
) -> Path:
    """Copy the chosen sample grids and the smoothed losses into ``weights_dir/timeline``.

    ``replay``: the run is a shorter re-run of the generator's recipe, kept to show learning
    (the shipped generators' own runs predate timelines); the page says so."""
    # Here, not at the top: the API reads timelines and must not import torch to do so.
    from effigies.gan.rundir import SAMPLES_DIR, STATS_FILE, atomic_write_text

    run_dir, dest = Path(run_dir), Path(weights_dir) / TIMELINE_DIR
    stats = _stats(run_dir / STATS_FILE)
    batch = next((images // step for step, images, _, _ in stats if step), 128)
    grids = {int(m.group(1)): p for p in (run_dir / SAMPLES_DIR).glob("step_*.png") if (m := _STEP.match(p.name))}
    dest.mkdir(parents=True, exist_ok=True)
    entries = []
    for step in _pick(sorted(grids), frames):
        # JPEG: a 512 px grid of noisy samples is ~680 KB as PNG, ~90 KB here, and looks the same.
        name = f"frame_{step:06d}.jpg"
        with Image.open(grids[step]) as grid:
            grid.convert("RGB").save(dest / name, format="JPEG", quality=88)
        entries.append({"step": step, "images": step * batch, "file": name})
    atomic_write_text(dest / TIMELINE_FILE, json.dumps({"frames": entries, "losses": _losses(stats, points), "replay": replay}))
    # A longer run exported again picks other steps: the old frames would ship as dead weight.
    keep = {e["file"] for e in entries}
    for stale in dest.glob("frame_*.jpg"):
        if stale.name not in keep:
            stale.unlink()
    return dest
