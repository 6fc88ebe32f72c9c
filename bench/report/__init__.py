"""The HTML report: one self-contained page from one or more results files.

Reads only results JSON (no Ray). One job per module:
  view       typed views of a file's runs (RunView, SectionView), read once from Results
  verdict    the headline: VerdictFacts (which runs, which ratios), then the wording
  notes      warnings, node losses, environment, node and measurement rows
  reproduce  the commands that rerun the same suite
  figures    chart data handed to bench.report.charts / bench.report.charts_cluster
  multi      several files: side by side, re-runs, scaling
  page       load the files, render templates/ with jinja2, write atomically

This package re-exports what `bench report`, the tests and scripts import from bench.report.
"""

from bench.format import fmt_bytes, fmt_int, fmt_pct, fmt_rate, fmt_ratio, fmt_speedup, fmt_time
from bench.report.figures import naive_fit, resources_chart, section_figures
from bench.report.multi import build_comparison, reproduction_group, scaling_group, workload_key
from bench.report.notes import (analysis_rows, environment_rows, fault_rows, measurement_rows, node_rows,
                                preflight_warnings, stability_warnings)
from bench.report.page import (TEMPLATE_DIR, Source, build_section, load_sources, render, summary_text,
                               write_report)
from bench.report.reproduce import reproduce
from bench.report.verdict import TARGET_EFFICIENCY, verdict, verdict_facts, work_bound_facts
from bench.report.view import (METRICS, RunView, SectionView, Summary, calibration_summary, is_work_bound,
                               run_faults, run_view, workload_title)

_chart_resources = resources_chart  # the name tests/test_report.py uses

__all__ = [
    "METRICS", "TARGET_EFFICIENCY", "TEMPLATE_DIR", "RunView", "SectionView", "Source", "Summary",
    "analysis_rows", "build_comparison", "build_section", "calibration_summary", "environment_rows",
    "fault_rows", "fmt_bytes", "fmt_int", "fmt_pct", "fmt_rate", "fmt_ratio", "fmt_speedup", "fmt_time",
    "is_work_bound", "load_sources", "measurement_rows", "naive_fit", "node_rows", "preflight_warnings",
    "render", "reproduce", "reproduction_group", "resources_chart", "run_faults", "run_view", "scaling_group",
    "section_figures", "stability_warnings", "summary_text", "verdict", "verdict_facts", "work_bound_facts",
    "workload_key", "workload_title", "write_report",
]
