"""``effigies train --stage upscaler``: a theme's 64 -> 256 px upscaler, with a progress bar.

Ctrl-C (or SIGTERM) stops after the current step with a checkpoint; the same command resumes.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def upscaler_command(
    low_dir: str | Path,
    high_dir: str | Path,
    run_dir: str | Path,
    *,
    steps: int,
    num_threads: int | None = None,
    export_to: str | Path | None = None,
    console: Console | None = None,
) -> int:
    import torch

    from effigies.gan.upscale import export_upscaler, train_upscaler

    console = console or Console()
    for folder, what in ((low_dir, "64 px training images"), (high_dir, "256 px renders")):
        if not Path(folder).is_dir():
            console.print(f"[red]error: no folder of {what} at {folder}[/red] "
                          "(scripts/build_dataset.py NAME --size 256 --out DIR builds the renders)")
            return 2
    if steps < 1:
        console.print("[red]error: --upscaler-steps must be at least 1[/red]")
        return 2
    if num_threads:
        torch.set_num_threads(num_threads)
    stop = {"requested": False}

    def on_signal(signum, frame):  # noqa: ARG001
        stop["requested"] = True
        console.print("[yellow]stopping after the current step, saving a checkpoint...[/yellow]")

    old = signal.signal(signal.SIGINT, on_signal), signal.signal(signal.SIGTERM, on_signal)
    last_print = [0.0]
    with Progress(
        TextColumn("[bold]upscaler[/bold]"), BarColumn(), MofNCompleteColumn(), TextColumn("L1 {task.fields[loss]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("upscaler", total=steps, loss="-")

        def progress_fn(info: dict[str, Any]) -> None:
            progress.update(task, completed=info["step"], loss=f"{info['loss']:.4f}")
            if not console.is_terminal and time.monotonic() - last_print[0] >= 30:
                last_print[0] = time.monotonic()
                console.print(f"upscaler step {info['step']}/{steps} L1 {info['loss']:.4f} "
                              f"{info['elapsed_s']:.0f} s")

        try:
            summary = train_upscaler(low_dir, high_dir, run_dir, steps=steps, progress_fn=progress_fn,
                                     abort_fn=lambda: stop["requested"])
        except ValueError as exc:
            console.print(f"[red]error: {exc}[/red]")
            return 2
        finally:
            signal.signal(signal.SIGINT, old[0])
            signal.signal(signal.SIGTERM, old[1])
    if summary["aborted"]:
        console.print(f"[yellow]stopped at step {summary['step']}/{steps}; resume with the same command.[/yellow]")
        return 130
    console.print(f"[green]done:[/green] {summary['step']} steps on {summary['pairs']:,} pairs, "
                  f"L1 {summary['loss']:.4f}, {summary['elapsed_s']:.0f} s")
    if export_to is not None:
        path = export_upscaler(run_dir, export_to)
        console.print(f"[green]exported[/green] {path}")
    return 0
