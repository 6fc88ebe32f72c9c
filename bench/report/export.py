"""Exporters of the per-run summary table. One interface: rows() feeds every format."""

from __future__ import annotations

import csv
import io

from bench import results as results_io
from bench.errors import UsageError
from bench.results import Results

COLUMNS = (
    "mode", "label", "queries", "batch_size", "tasks", "trials", "correct",
    "response_s_median", "response_s_q1", "response_s_q3", "response_s_cv",
    "lookups_per_s_median", "tasks_per_s_median",
    "submit_s_median", "submit_per_task_s_median",
    "task_latency_p50_s_median", "task_latency_p95_s_median", "task_latency_p99_s_median",
    "error",
)


def rows(results: Results) -> list[dict]:
    out = []
    for run in results.runs:
        row = {
            "mode": run.mode,
            "label": run.label,
            "queries": run.params.get("queries"),
            "batch_size": run.params.get("batch_size"),
            "tasks": run.params.get("tasks"),
            "trials": run.params.get("trials"),
            "correct": run.correct,
            "error": run.extra.get("error"),
        }
        for column in COLUMNS:
            for stat in ("median", "q1", "q3", "cv"):
                suffix = f"_{stat}"
                if column.endswith(suffix):
                    metric = column[: -len(suffix)]
                    row[column] = (run.stats.get(metric) or {}).get(stat)
        out.append(row)
    return out


def to_csv(results: Results) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows(results):
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})
    return buffer.getvalue()


FORMATS = {"csv": to_csv}


def export_file(results_path: str, format: str = "csv", out: str | None = None, force: bool = False) -> None:
    if format not in FORMATS:
        raise UsageError(f"unknown --format {format!r}; choose from {', '.join(FORMATS)}")
    target = None if out is None else results_io.check_output_path(out, force)
    text = FORMATS[format](results_io.load(str(results_path)))
    if target is None:
        print(text, end="")
    else:
        results_io.write_atomic(target, text)
