#!/usr/bin/env python3
"""Ship a trained theme: export its run, write ATTRIBUTION.txt, store the training fingerprints, measure it.

    .venv/bin/python scripts/ship_theme.py pixel-heroes            # after `effigies train --theme pixel-heroes`
    .venv/bin/python scripts/ship_theme.py emoji-folk --samples 2000

Reads the recipe's run folder (var/training/SLUG) and dataset (var/datasets/SLUG)
and writes effigies/themes/pretrained/SLUG/: generator.safetensors + .json and
samples.png (newest checkpoint, EMA generator when the run has one),
ATTRIBUTION.txt (how it was trained + the dataset's LICENSE.txt),
training_fingerprints.safetensors (originality check), the run's "how it learns" timeline
and metrics.json (`effigies eval`), and, for non-pixel themes, upscaler.safetensors + .json
from var/training/SLUG-upscaler (`effigies train --theme SLUG --stage upscaler`).
`--only upscaler` ships the upscaler alone, beside the generator already there; `--keep-upscaler`
ships a new generator beside the upscaler already there.
`make theme-SLUG` runs dataset -> train -> this.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from effigies.gan.upscale import export_upscaler  # noqa: E402
from effigies.themes.service import BUILTIN_THEMES, PRETRAINED_DIR  # noqa: E402
from effigies.training.cli import export_command  # noqa: E402
from effigies.training.eval_cli import eval_command  # noqa: E402
from effigies.training.recipes import get_recipe  # noqa: E402
from effigies.training.timeline import export_timeline  # noqa: E402
from effigies.uniqueness.training_set import fingerprint_dataset, read_training_fingerprints  # noqa: E402


def attribution_text(slug: str, *, run_dir: Path, data_dir: Path) -> str:
    spec = next(s for s in BUILTIN_THEMES if s.slug == slug)
    meta = json.loads((PRETRAINED_DIR / slug / "generator.json").read_text(encoding="utf-8"))
    training = meta.get("training") or {}
    model = meta.get("config") or {}
    title = f"{spec.name} — pretrained DCGAN generator"
    lines = [
        title,
        "=" * len(title),
        "",
        "generator.safetensors / generator.json: a DCGAN generator (Radford et al., 2015; architecture",
        f"of pytorch/examples dcgan, width ngf = ndf = {model.get('ngf', '?')}) trained by",
        f"`effigies train --theme {slug}` on the images of `effigies dataset build {slug}`.",
        f"Images seen: {meta.get('images_seen', 0):,} in {meta.get('trained_seconds', 0) / 3600:.1f} h on CPU; "
        f"options: {json.dumps(training, sort_keys=True)}",
        "",
        f"In the app: {spec.attribution}",
        "",
        "samples.png: 8x8 grid from latents(64, 100, seed=0) of this generator.",
        "training_fingerprints.safetensors: the 256-bit brightness fingerprints of the training images (no image ships).",
        "",
        "Training set notice (the dataset folder's LICENSE.txt):",
        "-" * 78,
        (data_dir / "LICENSE.txt").read_text(encoding="utf-8").rstrip(),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("slug", help="a shipped theme with a recipe (effigies/training/recipes.py)")
    parser.add_argument("--samples", type=int, default=10_000, help="fresh samples for the metrics (default 10,000)")
    parser.add_argument("--swd-images", type=int, default=4096)
    parser.add_argument("--only", choices=("upscaler",), help="ship only this part")
    parser.add_argument("--keep-upscaler", action="store_true",
                        help="ship the generator beside the upscaler already there (it upscales any 64 px image of the theme)")
    args = parser.parse_args(argv)
    console = Console()
    try:
        recipe = get_recipe(args.slug)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    run_dir, data_dir = ROOT / recipe.run_dir(), ROOT / recipe.data_dir()
    if not (data_dir / "LICENSE.txt").is_file():
        console.print(f"[red]no dataset at {data_dir}[/red]: run `effigies dataset build {args.slug}` first")
        return 2
    out = PRETRAINED_DIR / args.slug
    if recipe.upscaler_steps and args.keep_upscaler:
        if not (out / "upscaler.safetensors").is_file():
            console.print(f"[red]no upscaler in {out}[/red] to keep")
            return 2
    elif recipe.upscaler_steps:
        up_dir = ROOT / recipe.upscaler_run_dir()
        if not (up_dir / "checkpoints").is_dir():
            console.print(f"[red]no upscaler run at {up_dir}[/red]: run `effigies train --theme {args.slug} --stage upscaler`")
            return 2
        console.print(f"written {export_upscaler(up_dir, out)}")
    if args.only == "upscaler":
        return 0
    code = export_command(run_dir, out, console=console)
    if code:
        return code
    (out / "ATTRIBUTION.txt").write_text(attribution_text(args.slug, run_dir=run_dir, data_dir=data_dir), encoding="utf-8")
    console.print(f"written {out / 'ATTRIBUTION.txt'}")
    # The sale filter's copy of the training set: the same white composite as every candidate's
    # fingerprint, so an RGBA theme's near-copies of its own training images are refused too.
    with console.status(f"fingerprinting {data_dir}"):
        path = fingerprint_dataset(data_dir, out)
    info = read_training_fingerprints(path)
    console.print(f"written {path} ({info.count:,} fingerprints, dataset sha256 {info.dataset_sha256[:12]}...)")
    # "How it learns" from the very run that made the generator (its grids every --sample-every-s).
    console.print(f"written {export_timeline(run_dir, out, replay=False)}")
    return eval_command([args.slug], samples=args.samples, dataset=data_dir, swd_images=args.swd_images, console=console)


if __name__ == "__main__":
    sys.exit(main())
