"""``effigies eval``: quality figures of the shipped generators, without the database.

Reads ``effigies/themes/pretrained/<slug>/`` (generator + training_fingerprints.safetensors)
and, for SWD, C2ST and density/coverage only, the theme's dataset folder (default ``<data dir>/datasets/<slug>``,
i.e. ``var/datasets/<slug>``). Writes ``metrics.json`` there unless ``--no-write``;
``effigies db upgrade`` copies it into the model version and the theme API shows it.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from effigies.uniqueness.training_set import TRAINING_FINGERPRINTS_FILE, read_training_fingerprints


def _pretrained_dir() -> Path:
    from effigies.themes.service import PRETRAINED_DIR

    return PRETRAINED_DIR


def shipped_slugs() -> list[str]:
    return sorted(p.name for p in _pretrained_dir().iterdir() if (p / "generator.safetensors").is_file())


def _progress(console: Console, label: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def metrics_table(slug: str, metrics: dict) -> Table:
    table = Table(title=f"{slug}: generator quality")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("meaning")
    for res, value in (metrics.get("swd_levels") or {}).items():
        table.add_row(f"SWD {res}x{res}", f"{value:.1f}", "x 1e3, lower is better")
    table.add_row("SWD average", "-" if metrics["swd"] is None else f"{metrics['swd']:.1f}",
                  f"{metrics['swd_images']} images per set" if metrics["swd"] is not None else "no dataset: skipped")
    if metrics.get("c2st_accuracy") is not None:
        table.add_row("C2ST accuracy", f"{metrics['c2st_accuracy']:.3f}",
                      f"real vs fake, held out (0.5 = indistinguishable); {metrics['quality_images']} images per set")
        table.add_row("C2ST loss", f"{metrics['c2st_loss_bits']:.3f}", "bits per image (1.0 = chance)")
        table.add_row("density", f"{metrics['density']:.3f}", "fidelity, random-CNN k-NN (about 1 for real vs real)")
        table.add_row("coverage", f"{metrics['coverage']:.3f}",
                      "diversity, random-CNN k-NN (about 0.97 for real vs real)")
    table.add_row("originality", _pct(metrics["originality"]),
                  "near-copies of a training image (lower is better)" if metrics["originality"] is not None
                  else "no training fingerprints: skipped")
    table.add_row("diversity", _pct(metrics["diversity"]), "no other sample within R (goal >= 95 %)")
    if metrics.get("diversity_training") is not None:
        table.add_row("diversity of real images", _pct(metrics["diversity_training"]),
                      "same N of training images, for comparison")
    table.add_row("N", f"{metrics['samples']:,}", "fresh samples")
    table.add_row("R", str(metrics["radius"]), "Hamming radius, bits of the 256-bit brightness fingerprint")
    if metrics.get("training_images") is not None:
        table.add_row("training images", f"{metrics['training_images']:,}", "fingerprints compared against")
    steps = ", ".join(f"{k} {v:.1f}" for k, v in (metrics.get("seconds_by_step") or {}).items())
    table.add_row("seconds", f"{metrics['seconds']:.1f}", steps)
    return table


def hash_dataset_command(slug: str, dataset: Path, *, console: Console) -> int:
    from effigies.training.evaluate import hash_dataset

    if not dataset.is_dir():
        console.print(f"[red]no dataset at {dataset}[/red]: build it with `effigies dataset build {slug}`")
        return 2
    with _progress(console, f"{slug}: fingerprinting {dataset}") as progress:
        task = progress.add_task("hash", total=None)
        path = hash_dataset(dataset, _pretrained_dir() / slug, progress_fn=lambda d, t: progress.update(task, completed=d, total=t))
    info = read_training_fingerprints(path)
    console.print(f"[green]written[/green] {path} ({info.count:,} fingerprints, dataset sha256 {info.dataset_sha256[:12]}...)")
    return 0


def eval_theme(
    slug: str, *, samples: int, radius: int, dataset: Path | None, seed: int, write: bool, swd_images: int,
    quality_images: int, console: Console,
) -> int:
    from effigies.config import get_settings
    from effigies.training.evaluate import evaluate_generator, load_real_images, write_metrics

    weights = _pretrained_dir() / slug
    if not (weights / "generator.safetensors").is_file():
        console.print(f"[red]no shipped generator for theme {slug!r}[/red] (looked in {weights})")
        return 2
    data_dir = dataset if dataset is not None else get_settings().data_dir / "datasets" / slug
    real = None
    if data_dir.is_dir():
        n_real = max(swd_images, quality_images)
        with console.status(f"loading {n_real} images of {data_dir} for SWD, C2ST and density/coverage"):
            real = load_real_images(data_dir, n=n_real, seed=seed)
    elif dataset is not None:
        console.print(f"[red]dataset folder not found: {dataset}[/red]")
        return 2
    else:
        console.print(f"[yellow]SWD, C2ST and density/coverage skipped:[/yellow] no dataset at {data_dir}; "
                      f"build it with `effigies dataset build {slug}` (or pass --dataset DIR)")
    training = None
    if (weights / TRAINING_FINGERPRINTS_FILE).is_file():
        training = read_training_fingerprints(weights).values
    else:
        console.print(f"[yellow]originality skipped:[/yellow] no {TRAINING_FINGERPRINTS_FILE} in {weights}; "
                      f"write it with `effigies eval --theme {slug} --hash-dataset`")

    with _progress(console, f"{slug}: sampling") as progress:
        task = progress.add_task("sample", total=samples)
        metrics = evaluate_generator(
            weights, samples=samples, radius=radius, seed=seed, training_fingerprints=training, real_images=real,
            swd_images=swd_images, quality_images=quality_images,
            progress_fn=lambda done, total: progress.update(task, completed=done),
        )
    metrics = {"theme": slug, **metrics}
    console.print(metrics_table(slug, metrics))
    if write:
        console.print(f"written {write_metrics(weights, metrics)}")
    return 0


def eval_command(
    themes: list[str] | None,
    *,
    samples: int,
    radius: int | None = None,
    dataset: Path | None = None,
    seed: int = 0,
    write: bool = True,
    hash_only: bool = False,
    swd_images: int = 4096,
    quality_images: int = 2048,
    console: Console | None = None,
) -> int:
    """``themes`` None = every shipped theme. Returns 0, or 2 for bad input."""
    from effigies.config import get_settings

    console = console or Console()
    if not console.is_terminal:
        console.soft_wrap = True  # plain log lines, not wrapped at 80 columns
    slugs = themes if themes is not None else shipped_slugs()
    if dataset is not None and len(slugs) != 1:
        console.print("[red]--dataset needs a single --theme[/red]")
        return 2
    if samples < 2:
        console.print("[red]--samples must be at least 2[/red]")
        return 2
    radius = get_settings().uniqueness_radius if radius is None else radius
    status = 0
    for slug in slugs:
        if hash_only:
            data_dir = dataset if dataset is not None else get_settings().data_dir / "datasets" / slug
            code = hash_dataset_command(slug, data_dir, console=console)
        else:
            code = eval_theme(slug, samples=samples, radius=radius, dataset=dataset, seed=seed, write=write,
                              swd_images=swd_images, quality_images=quality_images, console=console)
        status = max(status, code)
    return status
