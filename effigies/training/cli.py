"""``effigies train`` / ``effigies export``: DCGAN training with a rich progress bar.

Also runnable on its own (e.g. for a long background run)::

    python -m effigies.training.cli train DATA_DIR OUT_DIR --total-images 400000
    python -m effigies.training.cli export RUN_DIR OUT_DIR

Ctrl-C (or SIGTERM) stops cleanly after writing a checkpoint; running the same
command again resumes from it. ``effigies train --dry-run`` (dry_run_command) trains a
couple of steps on a few images in a temporary folder, to check data and settings.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from effigies.gan.config import TrainOptions

# Cheap stabiliser used for the shipped themes: one-sided label smoothing
# (real label 0.9, Salimans et al. 2016). Pass real_label=1.0 for the exact paper recipe.
DEFAULT_REAL_LABEL = 0.9
# Second cheap stabiliser: instance noise (Sonderby et al. 2016), N(0, 0.1) added to
# D's inputs, annealed linearly to 0 over the first 200k images. Without it the
# paper recipe got stuck on this data (D perfect, G emitting grey noise after 30k
# images). Pass instance_noise=0 to switch it off.
DEFAULT_INSTANCE_NOISE = 0.1
DEFAULT_INSTANCE_NOISE_IMAGES = 200_000
# EMA of G for sampling: half-life 10k images (StyleGAN2-ADA's default), ramped up.
DEFAULT_EMA_IMAGES = 10_000


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def training_options(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    total_images: int | None = None,
    epochs: float | None = None,
    batch_size: int = 128,
    seed: int = 0,
    real_label: float = DEFAULT_REAL_LABEL,
    instance_noise: float = DEFAULT_INSTANCE_NOISE,
    instance_noise_images: int | None = DEFAULT_INSTANCE_NOISE_IMAGES,
    diffaugment: str = "auto",
    ema_images: int = DEFAULT_EMA_IMAGES,
    width: int = 64,
    model: dict[str, Any] | None = None,
    device: str = "auto",
    precision: str = "auto",
    num_threads: int | None = None,
    sample_every_s: float | None = 120.0,
    checkpoint_every_s: float | None = 300.0,
    **options: Any,
) -> TrainOptions:
    """The TrainOptions of ``effigies train`` (see train_command); TypeError/ValueError on bad input."""
    from effigies.gan.config import DCGANConfig, TrainOptions

    return TrainOptions(
        data_dir=str(data_dir),
        out_dir=str(out_dir),
        model=DCGANConfig(**(model if model is not None else {"ngf": width, "ndf": width})),
        batch_size=batch_size,
        total_images=total_images,
        epochs=epochs,
        seed=seed,
        real_label=real_label,
        instance_noise=instance_noise,
        instance_noise_images=instance_noise_images,
        diffaugment=diffaugment,
        ema_images=ema_images,
        device=device,
        precision=precision,
        num_threads=num_threads,
        sample_every=0,
        sample_every_s=sample_every_s,
        checkpoint_every=0,
        checkpoint_every_s=checkpoint_every_s,
        **options,
    )


def train_command(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    export_to: str | Path | None = None,
    console: Console | None = None,
    **options: Any,
) -> int:
    """Train (or resume) a DCGAN run in ``out_dir``; returns a process exit code.

    ``options`` are training_options' keywords (their defaults live there). ``model`` gives DCGANConfig fields (default: the paper's network at ``width``); further
    keyword arguments are TrainOptions fields (``loss``, ``lr_g``, ``lr_d``, ``r1_gamma``,
    ``lecam``...), as a recipe (effigies/training/recipes.py) lists them.
    0 = finished (and exported to ``export_to`` if given), 130 = interrupted
    (checkpoint saved, run the same command again to resume), 2 = bad input.
    """
    from effigies.gan.train import train

    console = console or Console()
    if not console.is_terminal:
        console.soft_wrap = True  # plain log lines, not wrapped at 80 columns
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        console.print(f"[red]dataset folder not found:[/red] {data_dir}")
        return 2
    try:
        options = training_options(data_dir, out_dir, **options)
    except (TypeError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        return 2

    stop = {"requested": False}

    def on_signal(signum, frame):  # noqa: ARG001
        if stop["requested"]:
            raise KeyboardInterrupt  # second Ctrl-C: give up immediately
        stop["requested"] = True
        console.print("[yellow]stopping after the current step, saving a checkpoint...[/yellow]")

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    interactive = console.is_terminal
    progress = None
    task = None
    last_print = [0.0]

    def progress_fn(info: dict[str, Any]) -> None:
        nonlocal task
        ev = info["event"]
        if ev == "start":
            what = "resuming" if info.get("resumed") else "starting"
            console.print(
                f"{what} at step {info['step']}/{info['total_steps']} "
                f"({info['images']:,}/{info['total']:,} images) on {info['device']} ({info['precision']})"
            )
            if progress is not None:
                task = progress.add_task(
                    "train", total=info["total"], completed=info["images"], ips="-", ld="-", lg="-", dx="-", dgz="-"
                )
            return
        if ev in ("checkpoint", "sample") and not interactive:
            console.print(f"{ev}: {info.get('path')}")
        if ev != "step":
            return
        if progress is not None and task is not None:
            progress.update(
                task,
                completed=info["images"],
                ips=_fmt(info["images_per_s"], ".1f"),
                ld=_fmt(info["loss_d"]),
                lg=_fmt(info["loss_g"]),
                dx=_fmt(info["d_x"], ".2f"),
                dgz=_fmt(info["d_g_z"], ".2f"),
            )
        elif not interactive and time.monotonic() - last_print[0] >= 30:
            last_print[0] = time.monotonic()
            eta = info.get("eta_s")
            console.print(
                f"step {info['step']}/{info['total_steps']} images {info['images']:,}/{info['total']:,} "
                f"loss_d {_fmt(info['loss_d'])} loss_g {_fmt(info['loss_g'])} D(x) {_fmt(info['d_x'], '.2f')} "
                f"D(G(z)) {_fmt(info['d_g_z'], '.2f')} {_fmt(info['images_per_s'], '.1f')} img/s "
                f"eta {'-' if eta is None else time.strftime('%H:%M:%S', time.gmtime(eta))}"
            )

    try:
        if interactive:
            progress = Progress(
                TextColumn("[bold]training[/bold]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[ips]} img/s"),
                TextColumn("D {task.fields[ld]} G {task.fields[lg]}"),
                TextColumn("D(x) {task.fields[dx]} D(G(z)) {task.fields[dgz]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            with progress:
                summary = train(options, progress_fn=progress_fn, abort_fn=lambda: stop["requested"])
        else:
            summary = train(options, progress_fn=progress_fn, abort_fn=lambda: stop["requested"])
    except KeyboardInterrupt:
        console.print("[red]interrupted without a final checkpoint; resume with the same command "
                      "(continues from the last periodic checkpoint)[/red]")
        return 130
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)

    if summary["aborted"]:
        console.print(
            f"[yellow]stopped at step {summary['step']} ({summary['images_seen']:,} images); "
            f"checkpoint saved in {summary['checkpoint']}.[/yellow]\nresume with the same command."
        )
        return 130
    console.print(
        f"[green]done:[/green] {summary['images_seen']:,} images, step {summary['step']}, "
        f"{summary['images_per_s']:.1f} img/s, checkpoint {summary['checkpoint']}"
    )
    if export_to is not None:
        return export_command(out_dir, export_to, console=console)
    return 0


# `effigies train --dry-run`: enough to run every part of a step (D, G, EMA, logging) and the
# end of a run (checkpoint, sample grid), cheap enough for a smoke test on a busy CPU.
DRY_RUN_STEPS = 2
DRY_RUN_BATCH = 8


def dry_run_command(
    data_dir: str | Path,
    *,
    steps: int = DRY_RUN_STEPS,
    batch_size: int = DRY_RUN_BATCH,
    console: Console | None = None,
    **options: Any,
) -> int:
    """Train ``steps`` steps on the first ``steps`` x ``batch_size`` images of ``data_dir``, all in
    a temporary folder that is deleted afterwards, and say what happened.

    ``options`` are training_options' keyword arguments (e.g. a recipe's ``train_kwargs()``).
    0 = it trained, 2 = bad input (message on stderr: folder missing or without images).
    """
    import shutil
    import tempfile

    from effigies.gan.data import list_images
    from effigies.gan.train import train

    console = console or Console()
    if not console.is_terminal:
        console.soft_wrap = True
    errors = Console(stderr=True, soft_wrap=True)
    data_dir = Path(data_dir)
    images = list_images(data_dir)[: steps * batch_size] if data_dir.is_dir() else None
    if not images:
        errors.print(f"error: {'no PNG/JPEG images in' if images is not None else 'dataset folder not found:'} {data_dir}",
                     markup=False, highlight=False)
        return 2
    batch = min(batch_size, len(images))
    with tempfile.TemporaryDirectory(prefix="effigies-dry-run-") as tmp:
        few = Path(tmp) / data_dir.resolve().name  # same folder name: the same dataset_name
        few.mkdir()
        for path in images:
            shutil.copyfile(path, few / path.name)
        overrides = {"total_images": steps * batch, "epochs": None, "batch_size": batch, "log_every": 1,
                     "sample_every_s": None, "checkpoint_every_s": None}
        try:
            train_options = training_options(few, Path(tmp) / "run", **{**options, **overrides})
        except (TypeError, ValueError) as exc:
            errors.print(f"error: {exc}", markup=False, highlight=False)
            return 2
        summary = train(train_options, progress_fn=lambda info: _print_dry_run_event(console, info))
    config = summary["config"]
    console.print(
        f"dry run OK: {summary['step']} steps of batch {batch} on {len(images)} images of {data_dir} "
        f"({config['image_size']} px, {config['nc']} channels, ngf {config['ngf']} ndf {config['ndf']}; "
        f"{summary['device']} {summary['precision']}; DiffAugment {summary['diffaugment'] or 'off'}; "
        f"EMA {summary['ema_images'] or 'off'}) in {summary['elapsed_s']:.1f} s; "
        "its run folder was temporary and is deleted: nothing written",
        markup=False, highlight=False,
    )
    return 0


def _print_dry_run_event(console: Console, info: dict[str, Any]) -> None:
    ev = info["event"]
    if ev == "step":
        console.print(
            f"step {info['step']}/{info['total_steps']}: loss_d {_fmt(info['loss_d'])} loss_g {_fmt(info['loss_g'])} "
            f"D(x) {_fmt(info['d_x'], '.2f')} D(G(z)) {_fmt(info['d_g_z'], '.2f')}",
            markup=False, highlight=False,
        )
    elif ev in ("checkpoint", "sample"):
        console.print(f"{ev} at step {info['step']} (temporary)", markup=False, highlight=False)


def export_command(run_dir: str | Path, out_dir: str | Path, *, console: Console | None = None) -> int:
    """Export the newest checkpoint of ``run_dir`` to ``out_dir`` (generator.safetensors/.json + samples.png)."""
    from effigies.gan.checkpoint import export_generator, latest_checkpoint

    console = console or Console()
    run_dir = Path(run_dir)
    if latest_checkpoint(run_dir) is None and not (run_dir.is_file() and run_dir.suffix == ".safetensors"):
        console.print(f"[red]no checkpoint found in {run_dir}[/red]")
        return 2
    out = export_generator(run_dir, out_dir)
    console.print(f"[green]exported[/green] {run_dir} -> {out} (generator.safetensors, generator.json, samples.png)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m effigies.training.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train or resume a DCGAN run")
    t.add_argument("data_dir")
    t.add_argument("out_dir")
    t.add_argument("--total-images", type=int)
    t.add_argument("--epochs", type=float)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--export-to")
    t.add_argument("--real-label", type=float, default=DEFAULT_REAL_LABEL,
                   help="target for real images (1.0 = paper, 0.9 = one-sided label smoothing)")
    t.add_argument("--instance-noise", type=float, default=DEFAULT_INSTANCE_NOISE,
                   help="std of Gaussian noise on D's inputs at the start (0 = off)")
    t.add_argument("--instance-noise-images", type=int, default=DEFAULT_INSTANCE_NOISE_IMAGES,
                   help="anneal the instance noise to 0 over this many images")
    t.add_argument("--diffaugment", default="auto",
                   help='DiffAugment policy: "color,translation,cutout", "none", or "auto" (on below 5,000 images)')
    t.add_argument("--ema-images", type=int, default=DEFAULT_EMA_IMAGES,
                   help="EMA half-life of G's weights in images (0 = off)")
    t.add_argument("--width", type=int, default=64, help="feature maps of G and D (ngf = ndf; paper: 64)")
    t.add_argument("--device", default="auto")
    t.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    t.add_argument("--num-threads", type=int)
    t.add_argument("--sample-every-s", type=float, default=120.0)
    t.add_argument("--checkpoint-every-s", type=float, default=300.0)
    e = sub.add_parser("export", help="export a run's newest checkpoint as a product generator")
    e.add_argument("run_dir")
    e.add_argument("out_dir")
    args = parser.parse_args(argv)
    if args.command == "export":
        return export_command(args.run_dir, args.out_dir)
    return train_command(
        args.data_dir,
        args.out_dir,
        total_images=args.total_images,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        export_to=args.export_to,
        real_label=args.real_label,
        instance_noise=args.instance_noise,
        instance_noise_images=args.instance_noise_images,
        diffaugment=args.diffaugment,
        ema_images=args.ema_images,
        width=args.width,
        device=args.device,
        precision=args.precision,
        num_threads=args.num_threads,
        sample_every_s=args.sample_every_s,
        checkpoint_every_s=args.checkpoint_every_s,
    )


if __name__ == "__main__":
    sys.exit(main())
