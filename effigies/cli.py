"""`effigies …`: one entry point for every process and chore."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _alembic_config():
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return config


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate, then make sure the shipped themes and the configured admin exist."""
    from alembic import command

    from effigies.accounts import service as accounts_service
    from effigies.config import get_settings
    from effigies.db import session_scope
    from effigies.themes import service as themes_service

    command.upgrade(_alembic_config(), "head")
    settings = get_settings()
    with session_scope() as session:
        themes_service.seed_builtin_themes(session=session)
        if settings.admin_email and settings.admin_password:
            accounts_service.ensure_admin(
                session=session, email=settings.admin_email, password=settings.admin_password.get_secret_value()
            )
    print("database is up to date")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from effigies.api.server import serve
    from effigies.config import get_settings

    serve(settings=get_settings(), host=args.host, port=args.port, workers=args.workers)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from effigies.config import get_settings
    from effigies.worker import celery_app

    concurrency = get_settings().worker_concurrency if args.concurrency is None else args.concurrency
    argv = ["worker", "-Q", args.queues, "-P", args.pool, "-c", str(concurrency), "--loglevel", "INFO",
            "-n", f"{args.queues}@%h-{os.getpid()}"]
    if args.beat:
        # One scheduler per deployment: `effigies up` runs it inside its single worker.
        schedule = get_settings().data_dir / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", "--schedule", str(schedule)]
    if any(q.startswith("train") for q in args.queues.split(",")):
        # A busy train worker must not reserve the next run: it would sit there, hidden from idle
        # workers, for hours (effigies.training.tasks acknowledges a run only when it starts).
        argv.append("--disable-prefetch")
    celery_app.worker_main(argv)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from effigies.embedded import run_up

    return run_up()


def cmd_train(args: argparse.Namespace) -> int:
    from effigies.training.cli import dry_run_command, train_command

    if args.dry_run and args.stage == "upscaler":
        print("error: --dry-run tries the GAN stage only (not --stage upscaler)", file=sys.stderr)
        return 2
    extra = {}
    name = args.recipe or args.theme
    if name:
        from effigies.training.recipes import get_recipe

        try:
            recipe = get_recipe(name)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.stage == "upscaler":
            return _train_upscaler(args, recipe)
        if args.theme:
            args.data = args.data or recipe.data_dir()
            args.out = args.out or recipe.run_dir()
        args.images = args.images or recipe.total_images
        extra = recipe.train_kwargs()
    elif args.stage == "upscaler":
        return _train_upscaler(args, None)
    if args.data is None or (args.out is None and not args.dry_run):
        print(f"error: give --theme SLUG, or {'--data' if args.dry_run else 'both --data and --out'}", file=sys.stderr)
        return 2
    if args.batch_size is not None:
        extra["batch_size"] = args.batch_size
    if args.diffaugment is not None:
        extra["diffaugment"] = args.diffaugment
    if args.ema_images is not None:
        extra["ema_images"] = args.ema_images
    if args.sample_every_s is not None:
        extra["sample_every_s"] = args.sample_every_s
    if args.init_generator is not None:
        extra["init_generator"] = str(args.init_generator)
    if args.dry_run:  # the recipe's network and options, a few steps of a small batch, no run folder
        extra.pop("batch_size", None)
        return dry_run_command(args.data, seed=args.seed, num_threads=args.threads, **extra)
    return train_command(
        args.data, args.out, total_images=args.images, epochs=args.epochs,
        seed=args.seed, export_to=args.export_to, num_threads=args.threads, **extra,
    )


def _train_upscaler(args: argparse.Namespace, recipe) -> int:
    """The theme's 64 -> 256 px upscaler (effigies.gan.upscale), its own resumable step."""
    from effigies.training.upscaler_cli import upscaler_command

    if recipe is not None and not recipe.upscaler_steps:
        print(f"error: {recipe.slug} is pixel art: its avatars are enlarged by whole blocks, no upscaler", file=sys.stderr)
        return 2
    low = args.data or (recipe.data_dir() if recipe else None)
    high = args.large or (recipe.large_data_dir() if recipe else None)
    out = args.out or (recipe.upscaler_run_dir() if recipe else None)
    if low is None or high is None or out is None:
        print("error: give --theme SLUG, or --data, --large and --out", file=sys.stderr)
        return 2
    steps = args.upscaler_steps or (recipe.upscaler_steps if recipe else 3000)
    return upscaler_command(low, high, out, steps=steps, num_threads=args.threads, export_to=args.export_to)


def cmd_eval(args: argparse.Namespace) -> int:
    from effigies.training.eval_cli import eval_command

    return eval_command(
        None if args.all else [args.theme], samples=args.samples, radius=args.radius, dataset=args.dataset,
        seed=args.seed, write=args.write, hash_only=args.hash_dataset, swd_images=args.swd_images,
        quality_images=args.quality_images,
    )


DATASET_THEMES = ("galactic-droids", "pixel-heroes", "emoji-folk", "arcane-sigils")


def cmd_dataset_build(args: argparse.Namespace) -> int:
    """Run the repository's scripts/build_dataset.py (needs the source checkout and Node.js + npm)."""
    import importlib.util
    import shutil

    script = ROOT / "scripts" / "build_dataset.py"
    if not script.is_file():
        print(
            f"error: {script} not found: `effigies dataset build` needs the repository checkout "
            "(an editable install: pip install -e .)",
            file=sys.stderr,
        )
        return 2
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        print(
            f"error: {' and '.join(missing)} not found: install Node.js >= 18 with npm to build datasets "
            "(only dataset building needs it, the application does not)",
            file=sys.stderr,
        )
        return 2
    spec = importlib.util.spec_from_file_location("effigies_build_dataset", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    argv = [args.name, "--out", str(args.out or Path("var") / "datasets" / args.name)]
    if args.count is not None:
        argv += ["--count", str(args.count)]
    if args.seed is not None:
        argv += ["--seed", args.seed]
    return module.main(argv)


def _reach_local_stack() -> str | None:
    """In local mode without DATABASE_URL, use the servers of the `effigies up` running on this
    data dir; an error message when there is none."""
    from effigies.config import adopt, get_settings
    from effigies.embedded.up import read_running_env

    settings = get_settings()
    if settings.database_url or not settings.is_local:
        return None
    running = read_running_env(settings.data_dir)
    if running is None:
        return (f"no database: start `effigies up` (data dir {settings.data_dir}) in another terminal, "
                "or set DATABASE_URL")
    adopt(running)
    return None


def cmd_admin_create(args: argparse.Namespace) -> int:
    from pydantic import TypeAdapter, ValidationError

    from effigies.accounts import service as accounts_service
    from effigies.accounts.schemas import Email
    from effigies.config import get_settings
    from effigies.db import session_scope

    try:  # the very rule of the sign-up form, so the log-in form accepts what is made here
        email = TypeAdapter(Email).validate_python(args.email)
    except ValidationError as exc:
        print(f"error: {args.email!r} is not an e-mail address the log-in form accepts: "
              f"{exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    problem = _reach_local_stack()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    given = get_settings().admin_password
    password = (given.get_secret_value() if given else "") or getpass.getpass("Password (10+ characters): ")
    _, refused = accounts_service.password_strength(password, email=email, display_name="Admin")
    if refused:
        reason = ("the password needs at least 10 characters" if refused == "password_short"
                  else accounts_service.PASSWORD_REFUSED[refused])
        print(f"error: {reason}", file=sys.stderr)
        return 2
    with session_scope() as session:
        user = accounts_service.ensure_admin(session=session, email=email, password=password)
        print(f"admin {user.email} is ready")
    return 0


def cmd_billing_reconcile(args: argparse.Namespace) -> int:
    from effigies.billing.reconcile import reconcile_command

    return reconcile_command(args.days)


def cmd_verify(args: argparse.Namespace) -> int:
    from effigies.certificates.cli import verify_command

    online = args.online is not None
    return verify_command(args.file, key=args.key, keys=args.keys, online=online, server=args.online or None)


def cmd_keys(args: argparse.Namespace) -> int:
    from effigies.certificates import cli as certificates_cli

    return {"list": certificates_cli.keys_list_command, "rotate": certificates_cli.keys_rotate_command,
            "generate": certificates_cli.keys_generate_command}[args.keys_command]()


def cmd_backup(args: argparse.Namespace) -> int:
    from effigies.ops.backup import backup_command

    return backup_command(args.out, with_signing_key=args.with_signing_key, datasets=args.datasets)


def cmd_restore(args: argparse.Namespace) -> int:
    from effigies.ops.restore import restore_command

    return restore_command(args.archive, force=args.force)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="effigies", description="Effigies Edification")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("up", help="start everything (embedded servers where none is configured)").set_defaults(func=cmd_up)

    api = sub.add_parser("api", help="serve the API and the frontend")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument("--workers", type=int,
                     help="processes (default: EE_API_WORKERS, else every usable CPU in production, 1 elsewhere)")
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--queues", default="generate",
                        help="comma-separated; a queue named train* is a training queue: no prefetching")
    worker.add_argument("--concurrency", type=int,
                        help="jobs in flight at once (threads with --pool threads; default: EE_WORKER_CONCURRENCY, 8)")
    # Threads: the jobs of one process share its warm generators and micro-batch their latents
    # (effigies.generation.sampler); torch releases the GIL in the forward pass.
    worker.add_argument("--pool", choices=("threads", "prefork", "solo"), default="threads")
    worker.add_argument("--beat", action="store_true", help="also run Celery beat (periodic chores: expired candidates)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database chores").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations, seed shipped themes, ensure the admin").set_defaults(func=cmd_db_upgrade)

    train = sub.add_parser("train", help="train a DCGAN on a folder of images (resumable)")
    train.add_argument("--theme", help="a shipped theme: its recipe (effigies/training/recipes.py) gives the defaults")
    train.add_argument("--recipe", help="train --data with this recipe (a shipped theme's name, effigies/training/recipes.py)")
    train.add_argument("--data", type=Path, help="folder of training images")
    train.add_argument("--out", type=Path, help="run folder (checkpoints, samples, stats); resumed when it exists")
    train.add_argument("--images", type=int, help="stop after this many training images")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int, default=None, help="images per step (default: the recipe's, else 128)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--export-to", type=Path, help="export the generator here when done")
    train.add_argument("--diffaugment", help='"color,translation,cutout", "none" or "auto" (on below 5,000 images)')
    train.add_argument("--ema-images", type=int, help="EMA half-life of G's weights in images (0 = off)")
    train.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    train.add_argument("--init-generator", type=Path,
                       help="warm start: a new run's G begins from this exported generator folder (same network), D from scratch")
    train.add_argument("--sample-every-s", type=float, help="seconds between sample grids (the timeline's frames)")
    train.add_argument("--stage", choices=("gan", "upscaler"), default="gan",
                       help="gan: the generator (default); upscaler: the theme's 64 -> 256 px upscaler")
    train.add_argument("--large", type=Path, help="upscaler: folder of 256 px renders of the --data images (same names)")
    train.add_argument("--upscaler-steps", type=int, help="upscaler: optimiser steps (default: the recipe's)")
    train.add_argument("--dry-run", action="store_true",
                       help="try it: 2 steps of batch 8 on the first 16 images of the data, in a temporary folder "
                       "(deleted after; --out, --images, --epochs, --batch-size and --export-to are ignored)")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser(
        "eval", help="quality of shipped generators: SWD, originality, diversity (no database needed)",
        description="Samples a shipped generator (effigies/themes/pretrained/SLUG) and reports SWD vs the dataset, "
        "originality (share of near-copies of training images) and diversity (share of samples with no other "
        "sample within R); writes metrics.json next to the generator. --hash-dataset instead (re)writes "
        "training_fingerprints.safetensors from the dataset folder and exits.",
    )
    which = ev.add_mutually_exclusive_group(required=True)
    which.add_argument("--theme", metavar="SLUG", help="one shipped theme")
    which.add_argument("--all", action="store_true", help="every shipped theme")
    ev.add_argument("--samples", type=int, default=10_000, help="fresh samples (default 10,000)")
    ev.add_argument("--radius", type=int,
                    help="Hamming radius R, in bits of the 256-bit fingerprint (default: EE_UNIQUENESS_RADIUS, 20)")
    ev.add_argument("--dataset", type=Path,
                    help="training images (default var/datasets/SLUG; only SWD, C2ST and density/coverage need them)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--swd-images", type=int, default=4096, help="images per set for SWD (default 4,096)")
    ev.add_argument("--quality-images", type=int, default=2048,
                    help="images per set for C2ST and density/coverage (default 2,048)")
    ev.add_argument("--write", action=argparse.BooleanOptionalAction, default=True, help="write metrics.json")
    ev.add_argument("--hash-dataset", action="store_true",
                    help="(re)write SLUG's training_fingerprints.safetensors from the dataset, then exit")
    ev.set_defaults(func=cmd_eval)

    dataset = sub.add_parser("dataset", help="training sets").add_subparsers(dest="dataset_command", required=True)
    dbuild = dataset.add_parser(
        "build", help="build a theme's training set (64x64 PNGs + dataset.json + LICENSE.txt; needs Node.js + npm)",
        description="Renders a theme's training images from pinned npm packages with scripts/build_dataset.py "
        "(needs the repository checkout and Node.js >= 18 with npm).",
    )
    dbuild.add_argument("name", choices=DATASET_THEMES, metavar="NAME", help=", ".join(DATASET_THEMES))
    dbuild.add_argument("--out", type=Path, help="output folder (default var/datasets/NAME)")
    dbuild.add_argument("--count", type=int, help="number of images (default: the theme's full set)")
    dbuild.add_argument("--seed", help="seed prefix (default 0)")
    dbuild.set_defaults(func=cmd_dataset_build)

    admin = sub.add_parser("admin", help="administrators").add_subparsers(dest="admin_command", required=True)
    create = admin.add_parser("create", help="create (or reset) an admin; password from EE_ADMIN_PASSWORD or a prompt")
    create.add_argument("--email", required=True)
    create.set_defaults(func=cmd_admin_create)

    verify = sub.add_parser(
        "verify", help="check an ownership certificate offline (exit 0 genuine, 1 not genuine, 2 unreadable, "
        "3 genuine but ownership ended: --online)",
        description="Verifies a certificate file's Ed25519 signature without the server: against the given public "
        "key(s), or by default the keys of this installation (EE_SIGNING_KEY, the key file under EE_DATA_DIR, "
        "EE_SIGNING_KEYS_RETIRED). A signature cannot say whether the owner has deleted their account since: "
        "--online also asks the server, and exits 3 when ownership has ended.",
    )
    verify.add_argument("file", type=Path, help="certificate JSON, as downloaded (effigies-PUBLICID.json)")
    given = verify.add_mutually_exclusive_group()
    given.add_argument("--key", type=Path, help="a public key file: PEM, or base64 of the 32 raw bytes")
    given.add_argument("--keys", type=Path, help="a saved copy of /.well-known/effigies-signing-key (JSON)")
    verify.add_argument(
        "--online", nargs="?", const="", metavar="URL",
        help="also ask the server (default EE_PUBLIC_URL) whether the avatar still has the owner the certificate "
        "names; its published keys are used when no key is given or installed here",
    )
    verify.set_defaults(func=cmd_verify)

    billing = sub.add_parser("billing", help="money chores").add_subparsers(dest="billing_command", required=True)
    reconcile = billing.add_parser(
        "reconcile", help="credit or fail top-ups whose Stripe webhook never arrived; report unknown payments",
        description="Lists the Stripe PaymentIntents of the last N days and applies each to its top-up as the "
        "webhook would have (safe to run any time, and twice): succeeded but not credited -> credited, failed but "
        "still pending -> marked failed. Prints what it found and fixed; exit 0.",
    )
    reconcile.add_argument("--days", type=int, default=7, help="how far back to look (default 7)")
    reconcile.set_defaults(func=cmd_billing_reconcile)

    keys = sub.add_parser("keys", help="certificate signing keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("list", help="the keys this installation publishes: id, status, public key").set_defaults(func=cmd_keys)
    keys.add_parser(
        "rotate", help="sign new certificates with a new key; certificates already issued stay genuine",
        description="Retires the key file's key (its public half stays published under EE_DATA_DIR/signing-keys-retired) "
        "and writes a new one. Refused (exit 2, with the steps to follow) when EE_SIGNING_KEY is set.",
    ).set_defaults(func=cmd_keys)
    keys.add_parser("generate", help="print a new private key for EE_SIGNING_KEY (nothing is stored)").set_defaults(func=cmd_keys)

    backup = sub.add_parser(
        "backup", help="archive the database and the data folder's files (docs/operations.md)",
        description="One tar: a pg_dump of DATABASE_URL and the EE_DATA_DIR files its rows need, with manifest.json "
        "(SHA-256 of every file, row counts, migration revision). Exit 0 done, 1 failed, 3 written but files the "
        "database needs were missing.",
    )
    backup.add_argument("--out", type=Path, required=True, help="a folder (a dated file name is made there) or a new file")
    backup.add_argument("--with-signing-key", action="store_true",
                        help="also archive the private signing key (the archive is then a secret)")
    backup.add_argument("--datasets", action=argparse.BooleanOptionalAction, default=True,
                        help="include EE_DATA_DIR/datasets (training sets; default yes)")
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser(
        "restore", help="restore an `effigies backup` archive into DATABASE_URL and EE_DATA_DIR",
        description="Verifies every checksum first, restores the database in one transaction, then the files, then "
        "migrates if the archive is older. Exit 0 done, 1 failed (the database is left as it was), 3 refused: "
        "the database or data folder is not empty (see --force), 4 archive unreadable, altered or too new.",
    )
    restore.add_argument("archive", type=Path)
    restore.add_argument("--force", action="store_true", help="replace a database and data folder that hold data")
    restore.set_defaults(func=cmd_restore)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
