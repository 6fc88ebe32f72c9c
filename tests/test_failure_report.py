"""The chaos sweep's page: the cost of a failure against batch size (bench.report.failcost)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.report.page import write_report

FIXTURE = Path(__file__).parent / "fixtures" / "small.json"


def cost(batch_size: int, re_executed: int | None, slowdown: float | None, trial: int | None = 2,
         recovery: float | None = 1.5, landed: str = "in trial") -> dict:
    return {"fault_unix": 1000.0, "target": "raybench-ray-worker-3", "trial": trial, "landed": landed,
            "batch_size": batch_size, "tasks": 3000 // batch_size, "detection_s": 4.0,
            "lookups_re_executed": re_executed, "tasks_retried": None if re_executed is None else 1,
            "retries": None if re_executed is None else 1, "tasks_failed": 0, "recovery_s": recovery,
            "faulted_response_s": None if slowdown is None else 2.0 * slowdown, "clean_median_s": 2.0,
            "clean_trials": 2, "slowdown": slowdown, "trial_correct": True if trial is not None else None,
            "task_events": {"available": re_executed is not None, "reason": None if re_executed is not None
                            else "the fault landed after the last trial: no trial to cost"}}


def sweep_file(tmp_path: Path, batch_size: int, fault: dict | None, correct: bool = True) -> str:
    data = json.loads(FIXTURE.read_text())
    run = next(r for r in data["runs"] if r["mode"] == "ray-batched" and r["params"]["batch_size"] == 100)
    run["label"], run["params"]["batch_size"] = f"ray-batched B={batch_size:,}", batch_size
    data["runs"] = [run]
    if fault is not None:
        run["faults"] = [{"event": "docker kill", "target": fault["target"], "unix": fault["fault_unix"]}]
        run["fault_cost"] = [fault]
    run["correct"] = correct
    path = tmp_path / f"sweep-B{batch_size}.json"
    path.write_text(json.dumps(data))
    return str(path)


def render(tmp_path: Path, files: list[str]) -> str:
    out = tmp_path / "report" / "index.html"
    write_report(files, str(out))
    return out.read_text()


def test_the_sweep_page_charts_and_tabulates_the_cost_per_batch_size(tmp_path):
    files = [sweep_file(tmp_path, 100, cost(100, 100, 1.2)), sweep_file(tmp_path, 1000, cost(1000, 1000, 1.6)),
             sweep_file(tmp_path, 10, cost(10, 20, 1.05))]
    html = render(tmp_path, files)
    section = html[html.index('id="failure-cost"'):html.index("</section>", html.index('id="failure-cost"'))]
    assert 'data-chart="failure-cost"' in section and 'aria-label="failure-cost"' in section
    rows = re.findall(r'<tr data-batch-size="(\d+)" data-measured="true"', section)
    assert rows == ["10", "100", "1000"]  # ordered by B
    assert re.findall(r'data-metric="re_executed" data-value="(\d+)"', section) == ["20", "100", "1000"]
    assert 'data-answers-ok="true"' in section and "Every answer was correct: 3 runs in 3 files" in section
    # the run's own fault box says what the fault cost
    assert "1,000 lookups re-executed (1 task(s) retried), recovery 1.50 s, slowdown 1.60x" in html


# every chart drawn without a warning, even the submission chart with no run answered right
@pytest.mark.filterwarnings("error::UserWarning")
def test_wrong_answers_and_a_kill_after_the_trial_are_named(tmp_path):
    files = [sweep_file(tmp_path, 100, cost(100, 100, 1.2), correct=False),
             sweep_file(tmp_path, 1000, cost(1000, None, None, trial=None, recovery=None,
                                              landed="after the last trial: trial #3 had ended 0.40 s before the fault"))]
    html = render(tmp_path, files)
    section = html[html.index('id="failure-cost"'):html.index("</section>", html.index('id="failure-cost"'))]
    assert 'data-answers-ok="false"' in section and "Wrong or missing answers in sweep-B100: ray-batched B=100" in section
    assert 'data-batch-size="1000" data-measured="false"' in section
    assert "the fault landed after the last trial: trial #3 had ended 0.40 s before the fault, so it cost no" in section
    assert 'data-chart="failure-cost"' not in section  # one measured point is not a curve


def test_no_fault_cost_no_section(tmp_path):
    html = render(tmp_path, [sweep_file(tmp_path, 100, None)])
    assert 'id="failure-cost"' not in html
