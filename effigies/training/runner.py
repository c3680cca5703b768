"""A train worker running one training run: lease, heartbeat, train (resuming), export, train the
theme's upscaler when its set has one to learn from (effigies.training.upscaling), evaluate, finish.

The training thread only calls :func:`effigies.gan.train.train` and records its progress in
memory; a heartbeat thread renews the lease every few seconds, storing that progress with the
same UPDATE and learning whether the admin asked to cancel. It also covers the slow parts around
the loop (loading the images, exporting, the upscaler, evaluating), so a busy worker never looks dead.
"""
from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from effigies.config import get_settings
from effigies.db import session_scope
from effigies.themes import service as themes_service
from effigies.themes.service import resolve_weights_dir
from effigies.training import service, upscaling
from effigies.training.presets import LOSS_POINTS

log = logging.getLogger(__name__)

# Figures of a run (live SWD, and the final ones stored with its model version), smaller than
# `effigies eval`'s 10,000 samples / 4,096 SWD images so a CPU worker spends seconds, not minutes,
# on them. Measured on the 2-core development machine while other test suites ran (load 5):
# SWD took 24 s for 256 images per set, 33 s for 512, 80 s for 1,024; sampling and fingerprinting
# 2,000 samples for diversity ~14 s. SWD grows as the sets shrink (one generator against itself:
# 36 at 256 images, 18.5 at 512, 12.4 at 1,024), so the figures compare between training runs
# only, which all use these sizes; `effigies eval` gives the careful ones.
EVAL_SAMPLES = 2_000
SWD_IMAGES = 512


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def worker_stopping() -> bool:
    """True once the Celery worker got SIGTERM (warm shutdown): it waits for the run, so the run
    should checkpoint and go back to the queue rather than keep it waiting for hours."""
    from celery.worker import state

    return any(flag is not None and flag is not False for flag in (state.should_stop, state.should_terminate))


def downsample(points: list[list[float]], limit: int = LOSS_POINTS) -> list[list[float]]:
    """At most ``limit`` points: bucket means of the losses, at each bucket's last image count."""
    if len(points) <= limit:
        return [list(p) for p in points]
    size = math.ceil(len(points) / limit)
    out = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        out.append([bucket[-1][0], *(round(sum(p[i] for p in bucket) / len(bucket), 4) for i in (1, 2))])
    return out


class Tracker:
    """The run's progress as the trainer reports it; snapshots go to the database."""

    def __init__(self, folder: Path, progress: dict[str, Any]) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        self.state = {k: v for k, v in progress.items() if k != "losses"}
        self.losses: list[list[float]] = []
        self.swd: list[list[float]] = list(progress.get("swd") or [])

    def set(self, **fields: Any) -> None:
        with self.lock:
            self.state.update(fields)

    def on_event(self, info: dict[str, Any]) -> None:
        event = info["event"]
        with self.lock:
            if event in ("start", "step"):
                self.state.update({k: info.get(k) for k in (
                    "step", "total_steps", "images", "total", "images_per_s", "eta_s", "elapsed_s",
                    "loss_d", "loss_g", "d_x", "d_g_z", "device", "precision")})
            if event == "start":
                self.state["phase"] = "training"
                self.state["resumed_from_images"] = info["images"] if info.get("resumed") else None
                # The trainer has just cut stats.jsonl back to the checkpoint it resumes from.
                self.losses = read_losses(self.folder / "stats.jsonl")
            elif event == "step" and info.get("loss_d") is not None:
                self.losses.append([info["images"], round(info["loss_d"], 4), round(info["loss_g"], 4)])
            elif event == "sample":
                self.state["sample"] = Path(info["path"]).relative_to(self.folder).as_posix()
                self.state["sample_images"] = info["images"]
            elif event == "checkpoint":
                self.state["checkpoint_images"] = info["images"]

    def add_swd(self, images: int, value: float) -> None:
        with self.lock:
            self.swd = [p for p in self.swd if p[0] < images] + [[images, round(value, 3)]]

    def snapshot(self, **fields: Any) -> dict[str, Any]:
        with self.lock:
            return {**self.state, **fields, "losses": downsample(self.losses), "swd": [list(p) for p in self.swd]}


def read_losses(path: Path) -> list[list[float]]:
    points = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                points.append([int(row["images"]), float(row["loss_d"]), float(row["loss_g"])])
            except (ValueError, KeyError, TypeError):
                continue
    return points


class Heartbeat(threading.Thread):
    def __init__(self, run_id: uuid.UUID, owner: str, tracker: Tracker) -> None:
        super().__init__(name=f"ee-train-heartbeat-{run_id}", daemon=True)
        settings = get_settings()
        self.run_id, self.owner, self.tracker = run_id, owner, tracker
        self.interval, self.lease_s = settings.training_heartbeat_s, settings.training_lease_s
        self.cancel, self.lost, self.halt = threading.Event(), threading.Event(), threading.Event()
        self.last_ok = time.monotonic()

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        try:
            with session_scope() as session:
                cancel = service.heartbeat(session=session, run_id=self.run_id, owner=self.owner,
                                           lease_s=self.lease_s, progress=self.tracker.snapshot())
        except Exception as exc:  # noqa: BLE001 - the database may be briefly down
            log.warning("training run %s: heartbeat failed: %s", self.run_id, exc)
            # Stop before the lease can expire: past it another worker may take the run over, and
            # two trainers must never write the same run folder.
            if time.monotonic() - self.last_ok > self.lease_s - 2 * self.interval:
                self.lost.set()
            return
        self.last_ok = time.monotonic()
        if cancel is None:
            self.lost.set()
        elif cancel:
            self.cancel.set()

    def should_abort(self) -> bool:
        return self.cancel.is_set() or self.lost.is_set() or worker_stopping()

    def stop(self) -> None:
        self.halt.set()
        if self.is_alive():
            self.join()


def execute(run_id: uuid.UUID) -> str:
    """Run (or resume) one training run; returns what happened (for the log and the tests)."""
    settings = get_settings()
    owner = new_owner()
    with session_scope() as session:
        run = service.take_lease(session=session, run_id=run_id, owner=owner, lease_s=settings.training_lease_s)
        if run is None:
            log.info("training run %s: not taken (another worker holds it, or it has ended)", run_id)
            return "skipped"
        slug = themes_service.slug_of(session=session, theme_id=run.theme_id)
        options, attempt, progress = dict(run.options), run.attempts, dict(run.progress or {})
    log.info("training run %s: lease taken by %s (attempt %d)", run_id, owner, attempt)
    tracker = Tracker(service.run_dir(run_id), {**progress, "phase": "loading"})
    heartbeat = Heartbeat(run_id, owner, tracker)
    heartbeat.start()
    try:
        return _run(run_id=run_id, owner=owner, attempt=attempt, slug=slug, options=options,
                    tracker=tracker, heartbeat=heartbeat)
    except Exception as exc:
        log.exception("training run %s failed", run_id)
        heartbeat.stop()
        with session_scope() as session:
            service.stop(session=session, run_id=run_id, owner=owner, status="failed", error=readable_error(exc),
                         progress=tracker.snapshot(phase="failed", eta_s=None))
        return "failed"
    finally:
        heartbeat.stop()


def _run(*, run_id: uuid.UUID, owner: str, attempt: int, slug: str, options: dict[str, Any],
         tracker: Tracker, heartbeat: Heartbeat) -> str:
    from effigies.gan.checkpoint import GENERATOR_META, export_generator
    from effigies.gan.config import DCGANConfig, TrainOptions
    from effigies.gan.train import train
    from effigies.training import evaluate
    from effigies.training.timeline import export_timeline

    settings = get_settings()
    folder, data = service.run_dir(run_id), service.dataset_dir(slug)
    # Runs created before grids and alpha existed hold no image_size/palette/nc: the paper's 64 px RGB.
    model = DCGANConfig(
        ngf=options["width"], ndf=options["width"], image_size=options.get("image_size", 64),
        palette=options.get("palette", 0), nc=options.get("nc", 3),
    )
    train_options = TrainOptions(
        data_dir=str(data), out_dir=str(folder), model=model,
        batch_size=options["batch_size"], total_images=options["total_images"], seed=options["seed"],
        real_label=options["real_label"], instance_noise=options["instance_noise"],
        instance_noise_images=options["instance_noise_images"], diffaugment=options["diffaugment"],
        ema_images=options["ema_images"], sample_every=0, sample_every_s=options["sample_every_s"],
        checkpoint_every=0, checkpoint_every_s=options["checkpoint_every_s"], log_every=options["log_every"],
        dataset_name=slug,
    )
    live_swd = LiveSWD(data, tracker, every_s=settings.training_swd_s, seed=options["seed"])

    def on_progress(info: dict[str, Any]) -> None:
        tracker.on_event(info)
        if info["event"] == "checkpoint":
            live_swd.maybe(info)

    started = time.monotonic()
    summary = train(train_options, progress_fn=on_progress, abort_fn=heartbeat.should_abort)
    trained = time.monotonic()
    if summary["aborted"] or heartbeat.should_abort():
        return _stopped(run_id=run_id, owner=owner, tracker=tracker, heartbeat=heartbeat)

    tracker.set(phase="exporting", eta_s=None)
    export_dir = resolve_weights_dir(service.export_location(slug, run_id, attempt))
    export_generator(folder, export_dir, dataset_name=slug)
    # The "how it learns" page of the theme reads this once the version is published.
    export_timeline(folder, export_dir)
    # The training images' fingerprints travel with the generator, as the shipped themes' do:
    # publishing the version registers them, so the sale filter refuses near-copies of them.
    evaluate.hash_dataset(data, export_dir)
    if options.get("upscaler_steps"):  # runs created before upscalers hold none: Lanczos masters
        # Into the weights folder before the version exists: it is never published without it.
        stopped = not upscaling.train_and_export(run_folder=folder, data=data, export_dir=export_dir, options=options,
                                                 tracker=tracker, abort_fn=heartbeat.should_abort)
        if stopped or heartbeat.should_abort():
            return _stopped(run_id=run_id, owner=owner, tracker=tracker, heartbeat=heartbeat)
    exported = time.monotonic()
    tracker.set(phase="evaluating")
    metrics = _evaluate(export_dir, data, seed=options["seed"])
    if metrics.get("swd") is not None:
        tracker.add_swd(int(summary["images_seen"]), float(metrics["swd"]))
    if heartbeat.should_abort():
        return _stopped(run_id=run_id, owner=owner, tracker=tracker, heartbeat=heartbeat)
    heartbeat.stop()
    config = json.loads((export_dir / GENERATOR_META).read_text(encoding="utf-8"))
    with session_scope() as session:
        version = service.finish(session=session, run_id=run_id, owner=owner, attempt=attempt, slug=slug,
                                 config=config, metrics=metrics, progress=tracker.snapshot(phase="done", eta_s=None))
        number = version.version if version is not None else None
    if number is None:
        log.warning("training run %s: lease lost before the end; no model version made by %s", run_id, owner)
        return "lost"
    log.info("training run %s: done, model version %d of %s (%s); training %.0f s, export (and upscaler) %.0f s, "
             "evaluation %.0f s",
             run_id, number, slug, export_dir, trained - started, exported - trained, time.monotonic() - exported)
    return "done"


def _stopped(*, run_id: uuid.UUID, owner: str, tracker: Tracker, heartbeat: Heartbeat) -> str:
    """The trainer stopped early (checkpoint written): cancelled, lease lost, or worker shutting down."""
    heartbeat.stop()
    if heartbeat.lost.is_set():
        log.warning("training run %s: lease lost; %s stopped without exporting", run_id, owner)
        return "lost"
    with session_scope() as session:
        if heartbeat.cancel.is_set():
            service.stop(session=session, run_id=run_id, owner=owner, status="cancelled",
                         progress=tracker.snapshot(phase="cancelled", eta_s=None))
            log.info("training run %s: cancelled", run_id)
            return "cancelled"
        queue = service.release(session=session, run_id=run_id, owner=owner, progress=tracker.snapshot(eta_s=None))
    if queue is not None:
        try:
            service.enqueue(run_id, queue)
        except Exception as exc:  # noqa: BLE001 - the beat's sweep sends it again later
            log.warning("training run %s: could not re-queue (%s); the sweep will", run_id, exc)
    log.info("training run %s: worker stopping, checkpoint kept, back in queue %s", run_id, queue)
    return "released"


class LiveSWD:
    """SWD of the latest checkpoint's EMA generator, at most every ``every_s`` seconds (0 = never).

    Computed in the training thread between two steps: it pauses training for a few seconds
    rather than competing with it for the cores."""

    def __init__(self, data: Path, tracker: Tracker, *, every_s: float, seed: int) -> None:
        self.data, self.tracker, self.every_s, self.seed = data, tracker, every_s, seed
        self.last = time.monotonic()
        self.real = None

    def maybe(self, info: dict[str, Any]) -> None:
        if not self.every_s or time.monotonic() - self.last < self.every_s:
            return
        if info.get("step") is not None and info["step"] >= (info.get("total_steps") or 0):
            return  # the end: the final evaluation measures it with the same settings
        try:
            self.tracker.add_swd(int(info["images"]), self.measure(Path(info["path"])))
        except Exception as exc:  # noqa: BLE001 - a figure for the chart is never worth failing the run
            log.warning("live SWD failed: %s", exc)
        self.last = time.monotonic()

    def measure(self, checkpoint: Path) -> float:
        import torch

        from effigies.gan.alpha import composite
        from effigies.gan.checkpoint import load_training_checkpoint
        from effigies.gan.config import DCGANConfig
        from effigies.gan.metrics import swd
        from effigies.gan.model import Generator
        from effigies.gan.rundir import grid_generator
        from effigies.gan.sample import latents, sample
        from effigies.training.evaluate import load_real_images

        if self.real is None:
            self.real = load_real_images(self.data, n=SWD_IMAGES, seed=self.seed)
        state = load_training_checkpoint(checkpoint)
        config = DCGANConfig.from_dict(state["meta"]["config"])
        generator = Generator(config)
        generator.load_state_dict(state["G_ema"] or state["G"])
        generator = grid_generator(generator, torch.device("cpu"), seed=self.seed)
        # RGBA samples are measured on the white composite, like the real images (load_real_images).
        images = composite(sample(generator, latents(min(SWD_IMAGES, len(self.real)), config.nz, seed=self.seed)))
        return float(swd(self.real, images, seed=self.seed).average)


def _evaluate(export_dir: Path, data: Path, *, seed: int) -> dict[str, Any]:
    from effigies.training import evaluate
    from effigies.uniqueness.training_set import read_training_fingerprints

    metrics = evaluate.evaluate_generator(
        export_dir, samples=EVAL_SAMPLES, radius=get_settings().uniqueness_radius, seed=seed,
        training_fingerprints=read_training_fingerprints(export_dir).values,
        real_images=evaluate.load_real_images(data, n=SWD_IMAGES, seed=seed), swd_images=SWD_IMAGES,
    )
    evaluate.write_metrics(export_dir, metrics)
    return metrics


def readable_error(exc: BaseException) -> str:
    """What the admin page shows: the cause in words where we know it, the exception otherwise."""
    text = str(exc)
    if isinstance(exc, upscaling.UpscalerFailed):
        return text
    if isinstance(exc, FileNotFoundError) and "dataset" in text:
        return "The theme's dataset folder is missing: upload its images again, then start a new run."
    if isinstance(exc, ValueError) and "no PNG/JPEG images" in text:
        return "The theme's dataset holds no usable images: upload its images again, then start a new run."
    if "out of memory" in text.lower():
        return "The worker ran out of memory while training: try again on a larger machine or GPU worker."
    return f"Training stopped by an unexpected error ({type(exc).__name__}: {text[:300]}). See the train worker's log."
