"""Each shipped theme's capacity, as measured by scripts/bench_capacity.py, reaches the admin
themes API from a file that ships with the package (its metrics.json), never from benchmarks/."""
from __future__ import annotations

import json

from tests.conftest import ROOT


def test_shipped_metrics_carry_the_measured_capacity():
    bench = json.loads((ROOT / "benchmarks" / "capacity.json").read_text())
    for slug, measured in bench["themes"].items():
        metrics = json.loads((ROOT / "effigies" / "themes" / "pretrained" / slug / "metrics.json").read_text())
        assert metrics["capacity"] == round(measured["capacity"]), slug
        assert metrics["capacity_is_lower_bound"] is measured["capacity_is_lower_bound"], slug
        assert metrics["capacity_radius"] == bench["radius"] and metrics["capacity_measured_at"] == measured["measured_at"]


def test_admin_themes_show_the_capacity_or_none_when_never_measured(stack, make_user):
    from effigies.db import session_scope
    from effigies.themes.models import Theme

    bench = json.loads((ROOT / "benchmarks" / "capacity.json").read_text())["themes"]
    admin, _ = make_user(role="admin")
    with session_scope() as session:
        session.add(Theme(slug="never-measured", name="Never measured", status="draft"))
    rows = {row["slug"]: row for row in admin.get("/api/admin/themes").json()}
    for slug, measured in bench.items():
        row = rows[slug]
        assert row["capacity"] == round(measured["capacity"]), slug
        assert row["capacity_is_lower_bound"] is measured["capacity_is_lower_bound"], slug
        assert row["model_version"]["capacity"] == row["capacity"]
    # arcane-sigils saw no refusal in 30,000 simulated sales: its figure is only a floor.
    assert rows["arcane-sigils"]["capacity_is_lower_bound"] is True
    assert rows["never-measured"]["capacity"] is None and rows["never-measured"]["capacity_is_lower_bound"] is False
