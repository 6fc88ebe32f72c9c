"""The terminal renderers: the per-run table and the verdict, as hyperfine prints its summary.

The verdict's text is also stored in the results (analysis.verdict_text) and written to
reports/summary.txt beside the HTML report, so the answer never lives only in a page.
"""

from __future__ import annotations

import math

from bench.calibration import stopped_line as calibration_stopped
from bench.format import fmt_int, fmt_pct, fmt_rate, fmt_speedup, fmt_time
from bench.results import Results, Run
from bench.samplers import SETTLE_BUSY_CORES
from bench.workload import item_words

STEAL_WARN = 0.02  # CPU steal worth a warning: 2% of the host's CPU time


def _median(run: Run | None, metric: str = "response_s") -> float | None:
    if run is None:
        return None
    return (run.stats.get(metric) or {}).get("median")


def table_lines(res: Results) -> list[str]:
    items, _ = item_words(dict(res.workload))
    lines = [f"{'run':<42} {'median s':>10} {'IQR s':>10} {items + '/s':>12} {'trials':>6} {'ok':>3}"]
    for run in res.runs:
        stat = run.stats.get("response_s") or {}
        rate = (run.stats.get("lookups_per_s") or {}).get("median")
        median = stat.get("median")
        iqr = (stat["q3"] - stat["q1"]) if stat else None
        lines.append(
            f"{run.label:<42} {median if median is not None else float('nan'):>10.4f} "
            f"{iqr if iqr is not None else float('nan'):>10.4f} {rate or 0:>12,.0f} "
            f"{len(run.samples.get('response_s') or ()):>6} {'✓' if run.correct else '✗':>3}"
        )
    record = res.cluster.get("calibration") or {}
    calibration = record.get("stats", {}).get("tasks_per_s", {}).get("median")
    if calibration:
        lines.append(f"calibration: {fmt_rate(calibration)} no-op tasks/s")
    stopped = calibration_stopped(record)
    if stopped:
        lines.append(f"warning: {stopped}")
    return lines


def print_summary(res: Results, path, out=None) -> None:
    """What `bench run` prints at the end: the per-run table, the verdict, where the file is."""
    for line in table_lines(res) + [""] + list((res.analysis or {}).get("verdict_text") or ()):
        print(line, file=out)
    print(f"results: {path}", file=out)


def _valid(res: Results, mode: str) -> list[Run]:
    return [r for r in res.runs if r.mode == mode and r.correct and _median(r)]


def _versus(best: float, other: Run | None, name: str) -> str | None:
    time = _median(other)
    if not time:
        return None
    return f"  {fmt_speedup(time / best)} than {name} ({fmt_time(time)})"


def verdict_lines(res: Results, report_path: str | None = None) -> list[str]:
    """Best batched Ray against every other way, the model's figures, ray-auto, warnings."""
    items, item = item_words(dict(res.workload))
    sweep = _valid(res, "ray-batched")
    lines: list[str] = []
    if sweep:
        best = min(sweep, key=_median)
        best_s = _median(best)
        lines.append(f"verdict: best batched Ray is B = {fmt_int(best.params.get('batch_size'))} "
                     f"({fmt_time(best_s)}, {fmt_int(best.params.get('tasks'))} tasks):")
        naive = max(_valid(res, "ray-naive"), key=lambda r: r.params.get("tasks") or 0, default=None)
        if naive is not None:
            # compare the same amount of work: scale naive's time per item up to the sweep's
            scale = best.params["queries"] / naive.params["queries"]
            lines.append(f"  {fmt_speedup(_median(naive) * scale / best_s)} than naive Ray "
                         f"(one task per {item}; {fmt_int(naive.params['tasks'])} tasks took {fmt_time(_median(naive))})")
        for mode, name in (("sequential", "sequential Python"), ("multiprocessing", None), ("numpy", "numpy (no overhead)")):
            run = next(iter(_valid(res, mode)), None)
            text = _versus(best_s, run, name or (run.label if run else mode))
            if text:
                lines.append(text)
    else:
        lines.append("verdict: no correct batched Ray run to judge")
    analysis = res.analysis or {}
    model = analysis.get("model")
    if model:
        text = (f"model: c = {fmt_time(model['per_task_overhead_s'])} per task, "
                f"w = {fmt_time(model['per_lookup_work_s'])} per {item}")
        if model.get("break_even_lookups_per_task"):
            text += (f"; Ray beats one Python loop above ~{fmt_int(round(model['break_even_lookups_per_task']))} "
                     f"{items} ({fmt_time(model['break_even_work_per_task_s'])} of work) per task")
        if model.get("rms_relative_error") is not None:
            text += (f"; fit: RMS error {fmt_pct(model['rms_relative_error'])}, worst "
                     f"{model['max_relative_residual']:+.0%} at B = {fmt_int(model.get('worst_point_batch_size'))}"
                     + (" (a misfit)" if model.get("misfit") else ""))
        lines.append(text)
    auto = analysis.get("auto")
    if auto:
        ci = auto.get("ratio_ci95")
        interval = f", 95% CI {ci[0]:.2f}–{ci[1]:.2f}" if ci else ""
        lines.append(f"ray-auto: chose B = {fmt_int(auto['auto_batch_size'])}, {auto['ratio']:.2f}× the time of the best "
                     f"swept B = {fmt_int(auto['best_batch_size'])} ({auto.get('ratio_method', 'ratio of medians')}{interval})")
    lines += _grouped_warnings(res)
    for message in ((res.cluster.get("system_check") or {}).get("warnings") or ()):
        lines.append(f"warning: {message}")
    if (res.cluster.get("lease_placement") or {}).get("warning"):
        lines.append(f"warning: {res.cluster['lease_placement']['warning']}")
    idle = (res.cluster.get("idle_load") or {}).get("host_busy_cores")
    if idle is not None and math.isfinite(idle):
        lines.append(f"idle load before the trials: {idle:.2f} cores busy on the host")
    lines += quiet_lines(res)
    host = (res.cluster.get("host_cpu") or {}).get("measured_rounds") or {}
    if (host.get("steal_share") or 0) >= STEAL_WARN:
        lines.append(f"warning: the hypervisor took {fmt_pct(host['steal_share'])} of the host's CPU during the "
                     f"rounds (steal): figures are slower than this machine's own, and will not reproduce")
    if report_path:
        lines.append(f"report: {report_path}")
    return lines


def quiet_lines(res: Results) -> list[str]:
    """How long trials waited for a quiet host (runner: quiet_before_trial), and how many
    started on a busy one anyway."""
    waits, busy = [], []
    for run in res.runs:
        quiet = run.extra.get("quiet_before_trial") or {}
        waits += [w for w in quiet.get("waited_s") or () if w is not None]
        busy += [b for b in quiet.get("busy_cores") or () if b is not None]
    if not waits:
        return []
    started_busy = sum(b > SETTLE_BUSY_CORES for b in busy)
    line = (f"quiet before each trial: waited {fmt_time(sum(waits))} in all (longest {fmt_time(max(waits))}) "
            f"for the host's Ray bookkeeping to finish")
    if started_busy:
        line += f"; {started_busy} of {len(busy)} trials started with the host still busy"
    return [line]


_KIND_WORDS = {
    "unstable": "response time CV above 10% (rerun on a quieter machine, or add --trials)",
    "too-short": "trials under 1 ms: timer noise dominates (raise --queries)",
    "outliers": "outlier trials, kept in the median and named in the results",
}


def _grouped_warnings(res: Results) -> list[str]:
    """One line per kind of warning, naming the runs, so the verdict is not buried."""
    by_kind: dict[str, list[str]] = {}
    for run in res.runs:
        for warning in run.extra.get("warnings") or ():
            by_kind.setdefault(warning.get("kind") or "other", []).append(run.label)
    lines = []
    for kind, labels in by_kind.items():
        words = _KIND_WORDS.get(kind, kind)
        lines.append(f"warning: {words}: {', '.join(labels)}")
    return lines
