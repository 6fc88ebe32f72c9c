"""The one test that goes through the real CLI, as the README tells a new user to."""

import csv
import io
import json

import pytest

from bench.mode_table import names as mode_names
from conftest import run_cli

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_quick_suite_through_the_cli(tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("run", "--suite", "quick", "--out", out, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"results: {out}" in proc.stdout
    data = json.loads(out.read_text())
    assert data["status"] == "complete" and data["suite"] == "quick"
    assert {r["mode"] for r in data["runs"]} == set(mode_names())
    assert all(r["correct"] for r in data["runs"])
    assert all(len(r["samples"]["response_s"]) >= 3 for r in data["runs"])
    assert len({r["params"]["batch_size"] for r in data["runs"] if r["mode"] == "ray-batched"}) >= 4
    # plausible, not just positive: the same order as naive's rate on the same Ray
    calibration = data["cluster"]["calibration"]["stats"]["tasks_per_s"]["median"]
    naive = max((r for r in data["runs"] if r["mode"] == "ray-naive"), key=lambda r: r["params"]["tasks"])
    naive_rate = naive["stats"]["tasks_per_s"]["median"]
    assert 0.2 * naive_rate <= calibration <= 20 * naive_rate, (calibration, naive_rate)
    assert all(node["samples"] for r in data["runs"] for node in r["resources"].values())

    # the summary table exports from the same file
    proc = run_cli("export", out, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [row["label"] for row in rows] == [r["label"] for r in data["runs"]]
    for row, run in zip(rows, data["runs"]):
        assert float(row["response_s_median"]) == pytest.approx(run["stats"]["response_s"]["median"])

    # a second run to the same path is refused, and the first file is untouched
    before = out.read_bytes()
    proc = run_cli("run", "--suite", "quick", "--out", out)
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert out.read_bytes() == before
