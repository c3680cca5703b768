"""The upscaler step of a training run: once the generator is exported, the theme's own 64 -> 256 px
upscaler (effigies.gan.upscale) learns from the upload's pairs (each 64 px training image and its
256 px version, effigies.themes.large_images) and is exported beside generator.safetensors, where
effigies.generation.master finds it. Runs only when the run's options say so
(effigies.training.presets: enough pairs, not pixel art).

Resumable like the GAN: its run folder is UPSCALER_RUN inside the training run's folder, so an
attempt that stops (cancel, lease lost, worker shutting down) leaves a checkpoint the next attempt
resumes from, and a finished one is only exported again into that attempt's weights folder.

A failure fails the run (UpscalerFailed): the step runs before the run's model version exists
(effigies.training.service.finish), and a version published without the upscaler its run was
meant to have would sell Lanczos masters, kept for good, as if nothing had happened.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from effigies.themes.large_images import LARGE_DIR

UPSCALER_RUN = "upscaler"


class UpscalerFailed(RuntimeError):
    """The upscaler could not be trained or exported; its message is what the admin page shows."""


class _Progress(Protocol):
    def set(self, **fields: Any) -> None: ...


def train_and_export(
    *, run_folder: Path, data: Path, export_dir: Path, options: dict[str, Any], tracker: _Progress,
    abort_fn: Callable[[], bool],
) -> bool:
    """Train (or resume) the upscaler and export it into ``export_dir``; False when ``abort_fn``
    stopped it first (checkpoint kept, nothing exported). Raises UpscalerFailed."""
    from effigies.gan.upscale import export_upscaler, train_upscaler

    steps = int(options["upscaler_steps"])
    tracker.set(phase="upscaling", eta_s=None, upscaler_steps=steps)

    def on_progress(info: dict[str, Any]) -> None:
        done = info["step"]
        # elapsed_s counts earlier attempts too: the rate holds across a resume.
        eta = info["elapsed_s"] / done * (steps - done) if done else None
        tracker.set(upscaler_step=done, upscaler_loss=round(float(info["loss"]), 5), eta_s=eta)

    try:
        summary = train_upscaler(
            data, data / LARGE_DIR, run_folder / UPSCALER_RUN, steps=steps,
            batch_size=int(options["upscaler_batch_size"]), crop=int(options["upscaler_crop"]),
            seed=int(options["seed"]), checkpoint_every_s=float(options["checkpoint_every_s"]),
            progress_fn=on_progress, abort_fn=abort_fn,
        )
        if summary["aborted"]:
            return False
        export_upscaler(run_folder / UPSCALER_RUN, export_dir)
    except Exception as exc:  # noqa: BLE001 - every cause ends the run the same way, told in words
        raise UpscalerFailed(_told(exc, data)) from exc
    tracker.set(upscaler_step=summary["step"], eta_s=None)
    return True


def _told(exc: Exception, data: Path) -> str:
    text = str(exc)
    # The folder was removed (list_images) or emptied (load_pairs: "no image ... has a 256 px
    # render in ...") after the run was started.
    if isinstance(exc, FileNotFoundError) or "px render in" in text:
        return (f"The 256 px versions of the theme's images are missing ({data.name}/{LARGE_DIR}): "
                "upload its images again, then start a new run. No model version was made.")
    return (f"The theme's 64 -> 256 px upscaler could not be trained ({type(exc).__name__}: {text[:300]}), "
            "so no model version was made. See the train worker's log, then start a new run.")
