from __future__ import annotations

import io
import json

from rich.console import Console

from effigies.gan.config import DCGANConfig, TrainOptions
from effigies.gan.train import train
from effigies.training import cli


def _console():
    return Console(file=io.StringIO(), width=200)


def test_export_command(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train(
        TrainOptions(
            data_dir=str(tiny_dataset), out_dir=str(run), model=DCGANConfig(ngf=8, ndf=8), batch_size=16,
            total_images=32, precision="fp32", sample_every_s=None, checkpoint_every_s=None,
        )
    )
    out = tmp_path / "theme"
    assert cli.export_command(run, out, console=_console()) == 0
    assert {p.name for p in out.iterdir()} >= {"generator.safetensors", "generator.json", "samples.png"}
    assert json.loads((out / "generator.json").read_text())["step"] == 2
    assert cli.export_command(tmp_path / "nothing", out, console=_console()) == 2


def test_train_command_abort_then_resume(tiny_dataset, tmp_path, monkeypatch):
    """train_command wires abort_fn to a stop flag, says how to resume, and resumes."""
    import sys

    gan_train = sys.modules["effigies.gan.train"]  # the module (effigies.gan.train is also the function)

    real_train = gan_train.train
    seen = {}

    def small_train(options, *, progress_fn=None, abort_fn=None):
        options.model = DCGANConfig(ngf=8, ndf=8)
        options.precision = "fp32"
        seen.setdefault("opts", options)
        calls = {"n": 0}

        def abort():  # simulate Ctrl-C after 2 steps on the first run only
            calls["n"] += 1
            return seen.get("first", True) and calls["n"] > 2

        return real_train(options, progress_fn=progress_fn, abort_fn=abort)

    monkeypatch.setattr(gan_train, "train", small_train)
    console = _console()
    rc = cli.train_command(tiny_dataset, tmp_path / "run", total_images=64, batch_size=16, console=console)
    assert rc == 130
    assert "resume with the same command" in console.file.getvalue()
    assert seen["opts"].real_label == cli.DEFAULT_REAL_LABEL and seen["opts"].batch_size == 16
    seen["first"] = False
    console = _console()
    rc = cli.train_command(
        tiny_dataset, tmp_path / "run", total_images=64, batch_size=16, console=console, export_to=tmp_path / "exp"
    )
    assert rc == 0, console.file.getvalue()
    assert "resuming at step 2" in console.file.getvalue()
    assert (tmp_path / "exp" / "generator.safetensors").is_file()
    assert cli.train_command(tmp_path / "missing", tmp_path / "r2", console=_console()) == 2


def test_main_argparse_export(tiny_dataset, tmp_path, monkeypatch):
    called = {}
    monkeypatch.setattr(cli, "export_command", lambda r, o: called.setdefault("args", (r, o)) and 0)
    assert cli.main(["export", "runs/x", "out/y"]) == 0
    assert called["args"] == ("runs/x", "out/y")
