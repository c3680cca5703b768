"""The learning timeline shipped beside a generator: chosen frames and smoothed losses."""
import json

from PIL import Image

from effigies.training.timeline import TIMELINE_DIR, TIMELINE_FILE, export_timeline


def _run(tmp_path, steps, logged):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True, exist_ok=True)
    for step in steps:
        Image.new("RGB", (8, 8), (step % 256, 0, 0)).save(run / "samples" / f"step_{step:06d}.png")
    with open(run / "stats.jsonl", "w") as f:
        for step in range(1, logged + 1):
            f.write(json.dumps({"step": step, "images": step * 64, "loss_d": 1.0 + step % 2, "loss_g": 2.0}) + "\n")
        f.write("not json\n")
    return run


def test_frames_spread_in_log_time_keep_first_and_last(tmp_path):
    steps = [0, *range(10, 5001, 10)]
    dest = export_timeline(_run(tmp_path, steps, 100), tmp_path / "weights", frames=8, points=10)
    assert dest == tmp_path / "weights" / TIMELINE_DIR
    timeline = json.loads((dest / TIMELINE_FILE).read_text())
    chosen = [f["step"] for f in timeline["frames"]]
    assert chosen[0] == 0 and chosen[-1] == 5000 and len(chosen) == 8 == len(set(chosen))
    # Log spacing: half the frames fall in the first tenth of the run.
    assert sum(s <= 500 for s in chosen) >= 4
    assert all(f["images"] == f["step"] * 64 for f in timeline["frames"])
    assert all((dest / f["file"]).is_file() and f["file"].endswith(".jpg") for f in timeline["frames"])
    # 100 logged steps averaged into 10 points: loss_d alternates 1, 2 so each mean is 1.5.
    assert len(timeline["losses"]) == 10
    assert all(d == 1.5 and g == 2.0 for _, d, g in timeline["losses"])
    assert timeline["losses"][-1][0] == 100 * 64


def test_a_short_run_keeps_every_frame(tmp_path):
    dest = export_timeline(_run(tmp_path, [0, 5, 9], 3), tmp_path / "w", frames=12)
    assert [f["step"] for f in json.loads((dest / TIMELINE_FILE).read_text())["frames"]] == [0, 5, 9]


def test_exporting_a_longer_run_again_leaves_only_its_own_frames(tmp_path):
    weights = tmp_path / "w"
    export_timeline(_run(tmp_path, [0, 5, 9], 3), weights, frames=12)
    run = _run(tmp_path, [0, *range(10, 1001, 10)], 3)  # the same run, resumed further
    dest = export_timeline(run, weights, frames=4)
    listed = {f["file"] for f in json.loads((dest / TIMELINE_FILE).read_text())["frames"]}
    assert len(listed) == 4
    assert {p.name for p in dest.glob("frame_*.jpg")} == listed
