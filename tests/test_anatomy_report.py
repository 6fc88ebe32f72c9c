"""The anatomy in the report: a stacked bar per diagnosed batch size, and one line naming the
largest phase, or why there is none."""

from __future__ import annotations

import json
from pathlib import Path

from bench import results as results_io
from bench.report import write_report
from bench.report.figures import anatomy_rows
from bench.report.notes import measurement_rows

FIXTURE = Path(__file__).parent / "fixtures" / "small.json"


def _phases(**medians):
    return {name: {"median_s": value, "q1_s": value, "q3_s": value, "n": 50, "missing": 0} for name, value in medians.items()}


NAIVE = {"available": True, "mode": "ray-naive", "batch_size": 1, "tasks": 50, "largest_phase": "scheduling_and_lease",
         "phases": _phases(submission=4e-5, waiting_for_args=1e-4, scheduling_and_lease=8e-4, dispatch=2e-4,
                           execution=3e-4, return_and_get=2e-4),
         "measured_latency": {"median_s": 1.65e-3}, "residual": {"median_s": 1e-5, "median_rel": 0.006}}
BATCHED = {**NAIVE, "mode": "ray-batched", "batch_size": 10_000, "tasks": 10, "largest_phase": "execution",
           "phases": _phases(submission=4e-5, waiting_for_args=1e-4, scheduling_and_lease=8e-4, dispatch=2e-4,
                             execution=4e-2, return_and_get=3e-4),
           "measured_latency": {"median_s": 4.2e-2}}


def _with_anatomy(tmp_path, anatomy) -> Path:
    data = json.loads(FIXTURE.read_text())
    data["cluster"]["anatomy"] = anatomy
    path = tmp_path / "with-anatomy.json"
    path.write_text(json.dumps(data))
    return path


def test_each_diagnosed_batch_size_becomes_a_bar_and_the_largest_phase_is_named(tmp_path):
    path = _with_anatomy(tmp_path, {"available": True, "source": "gcs task events", "runs": [NAIVE, BATCHED]})
    res = results_io.load(path)
    rows = anatomy_rows(res)
    assert [r["label"] for r in rows] == ["naive (B = 1)", "B = 10,000"]
    assert rows[1]["phases"]["execution"] == 4e-2 and rows[1]["measured"] == 4.2e-2
    words = dict(measurement_rows(res))["Task anatomy"]
    assert "naive: scheduling and lease 800 µs of 1.65 ms" in words
    assert "B = 10,000: execution 40 ms of 42 ms" in words
    page = write_report([str(path)], out=str(tmp_path / "r" / "index.html")).read_text()
    assert 'data-chart="anatomy"' in page and "Where each task" in page


def test_unavailable_task_events_give_one_reason_and_no_chart(tmp_path):
    path = _with_anatomy(tmp_path, {"available": False, "reason": "task events off (RAY_task_events_report_interval_ms=0)"})
    res = results_io.load(path)
    assert anatomy_rows(res) == []
    assert dict(measurement_rows(res))["Task anatomy"] == \
        "not measured: task events off (RAY_task_events_report_interval_ms=0)"
    page = write_report([str(path)], out=str(tmp_path / "r" / "index.html")).read_text()
    assert 'data-chart="anatomy"' not in page
