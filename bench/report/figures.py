"""Chart data for one results file: the runs' numbers shaped for bench.report.charts / bench.report.charts_cluster,
and the captions the page puts under them."""

from __future__ import annotations

from typing import Mapping

from bench import mode_table
from bench.analysis.model import naive_fit as fit_line
from bench.format import fmt_int, fmt_rate
from bench.report import charts, charts_cluster
from bench.report.view import (Figure, RunView, analysis_of, as_dicts, calibration_summary, first_correct, nodes_of,
                               short_label)
from bench.results import Results, item_words


def _response_chart(views) -> str | None:
    rows = [{"label": v.label, "mode": v.mode, "median": v.response.median, "q1": v.response.q1,
             "q3": v.response.q3, "correct": v.correct} for v in views if v.response]
    return charts.response_by_mode(rows)


def _rate(view: RunView) -> float | None:
    rate = view.stats.lookups_per_s
    return rate.median if rate else None


def _batch_chart(views, best: RunView | None, model: dict | None, items: str = "lookups") -> str | None:
    points = [{"batch_size": v.batch_size, "median": v.response.median, "q1": v.response.q1, "q3": v.response.q3,
               "lookups_per_s": _rate(v), "correct": v.correct, "best": best is not None and v.run is best.run}
              for v in views if v.mode == "ray-batched" and v.response and v.batch_size]
    refs = []
    for mode in (name for name in mode_table.names() if not mode_table.TABLE[name].needs_ray):  # the floor lines
        ref = first_correct(views, mode)
        if ref:
            refs.append({"label": ref.label, "mode": mode, "median": ref.response.median, "lookups_per_s": _rate(ref)})
    return charts.batch_sweep(points, refs, model=model, items=items)


def naive_fit(views) -> dict | None:
    """The naive runs' line (bench.analysis.model.naive_fit) through their median times."""
    return fit_line([(v.tasks, v.response.median) for v in views
                     if v.mode == "ray-naive" and v.correct and v.response and v.tasks])


def _naive_chart(views, fit: dict | None, item: str = "lookup") -> str | None:
    points = [{"tasks": v.tasks, "median": v.response.median, "q1": v.response.q1, "q3": v.response.q3,
               "correct": v.correct} for v in views if v.mode == "ray-naive" and v.response and v.tasks]
    return charts.naive_scaling(points, fit, item=item)


def _submit_chart(views) -> str | None:
    points = [{"label": v.label, "mode": v.mode, "tasks": v.tasks, "submit_s": v.stats.submit_s.median,
               "submit_per_task_s": v.stats.submit_per_task_s.median, "correct": v.correct}
              for v in views if v.stats.submit_s and v.stats.submit_per_task_s and v.mode.startswith("ray")]
    return charts.submission_latency(points)


def _latency_chart(views) -> str | None:
    series = []
    for v in views:
        trials = v.run.extra.get("task_latencies_s") or ()
        pooled = [x for trial in trials for x in (trial or ()) if isinstance(x, (int, float))]
        if v.mode.startswith("ray") and len(pooled) >= 2:
            series.append({"label": v.label, "mode": v.mode, "values": pooled, "correct": v.correct})
    return charts.task_latency_distribution(series)


def _calibration_chart(views, results: Results) -> str | None:
    calib = calibration_summary(results)
    naive = [{"label": v.label, "median": v.stats.tasks_per_s.median, "q1": v.stats.tasks_per_s.q1,
              "q3": v.stats.tasks_per_s.q3, "correct": v.correct}
             for v in views if v.mode == "ray-naive" and v.stats.tasks_per_s]
    return charts.naive_vs_calibration(
        {"median": calib.median, "q1": calib.q1, "q3": calib.q3} if calib else None, naive)


# --- per-node resources: every run's samples on one time axis ---------------------------------


def _run_spans(runs, t0: float, interleaved: bool) -> list[dict]:
    spans = [{"short": short_label(r), "start": r.extra["started_unix"] - t0,
              "end": (r.extra.get("ended_unix") or r.extra["started_unix"]) - t0} for r in runs]
    if interleaved:  # every run spans all the rounds: one span for the measured rounds
        spans = [{"short": "interleaved rounds", "start": min(s["start"] for s in spans),
                  "end": max(s["end"] for s in spans)}]
    return spans


def _node_series(runs, t0: float, interleaved: bool, hostname) -> dict[str, list]:
    """node_id -> [(t, cpu %, memory bytes)], None marking a gap between runs."""
    series: dict[str, list] = {}
    for run in runs:
        for node_id, data in (run.extra.get("resources") or {}).items():
            if not isinstance(data, Mapping):
                continue
            hostname(node_id, data.get("hostname"))
            points = series.setdefault(node_id, [])
            samples = [s for s in (data.get("samples") or ()) if isinstance(s, (list, tuple)) and len(s) >= 3]
            if points and samples and not interleaved:
                points.append(None)  # a gap between runs
            points.extend((t - t0, cpu, mem) for t, cpu, mem in (tuple(s[:3]) for s in samples))
    if interleaved:  # runs' samples interleave in time: one time-ordered series per node
        series = {node_id: sorted(set(points)) for node_id, points in series.items()}
    return series


def _lost_nodes(runs, results: Results, t0: float, series: dict, hostname) -> dict[str, float | None]:
    """node_id -> when the driver saw it lost (seconds from t0), None if only its sampler said so."""
    lost_at: dict[str, float | None] = {}
    for run in runs:
        for node_id, data in (run.extra.get("resources") or {}).items():
            if isinstance(data, Mapping) and data.get("lost"):
                lost_at.setdefault(node_id, None)
                hostname(node_id, data.get("hostname"))
                series.setdefault(node_id, [])
    events = [e for r in runs for e in as_dicts(r.extra.get("node_events"))] + as_dicts(results.cluster.get("node_events"))
    for e in events:
        if isinstance(e, dict) and e.get("event") == "node_lost" and isinstance(e.get("detected_unix"), (int, float)):
            node_id, when = e.get("node_id"), e["detected_unix"] - t0
            if lost_at.get(node_id) is None or when < lost_at[node_id]:
                lost_at[node_id] = when
            hostname(node_id, e.get("hostname"))
            series.setdefault(node_id, [])
    return lost_at


def resources_chart(results: Results) -> str | None:
    runs = [r for r in results.runs if r.extra.get("started_unix")]
    if not runs:
        return None
    t0 = min(r.extra["started_unix"] for r in runs)
    interleaved = bool(results.config.get("order"))
    names = {n.get("node_id"): n.get("hostname") for n in nodes_of(results)}
    cpus = {n.get("node_id"): n.get("cpus") for n in nodes_of(results)}
    hostnames: dict[str, str] = {}

    def hostname(node_id, given):  # the first name seen for a node wins
        hostnames.setdefault(node_id, given or names.get(node_id) or str(node_id)[:8])

    series = _node_series(runs, t0, interleaved, hostname)
    lost_at = _lost_nodes(runs, results, t0, series, hostname)
    faults = [{"t": f["unix"] - t0, "text": f"{f.get('event') or 'fault'} {f.get('target') or ''}".strip()}
              for r in runs for f in as_dicts(r.extra.get("faults"))
              if isinstance(f, dict) and isinstance(f.get("unix"), (int, float))]
    nodes = []
    for node_id, points in series.items():
        name = hostnames[node_id]
        if list(hostnames.values()).count(name) > 1:
            name = f"{name} ({str(node_id)[:6]})"
        nodes.append({"name": name, "cpus": cpus.get(node_id), "series": points,
                      "lost": node_id in lost_at, "lost_at": lost_at.get(node_id)})
    return charts_cluster.node_resources(nodes, _run_spans(runs, t0, interleaved), faults=faults)


def anatomy_rows(results: Results) -> list[dict]:
    """One row per diagnosed batch size (cluster.anatomy, written by the runner after the rounds)."""
    rows = []
    for entry in as_dicts((results.cluster.get("anatomy") or {}).get("runs")):
        if not entry.get("available"):
            continue
        batch = entry.get("batch_size")
        label = "naive (B = 1)" if entry.get("mode") == "ray-naive" else f"B = {fmt_int(batch)}"
        rows.append({"label": label, "phases": {k: (v or {}).get("median_s") for k, v in (entry.get("phases") or {}).items()},
                     "measured": (entry.get("measured_latency") or {}).get("median_s"),
                     "residual": (entry.get("residual") or {}).get("median_s")})
    return rows


def section_figures(views, results: Results, best: RunView | None, fit: dict | None) -> list[Figure]:
    """Every chart of one file that has something to draw, with its title and caption."""
    items, item = item_words(dict(results.workload))
    figures = [
        ("response", "Response time by run",
         "Median time from the first submission to the last result; whiskers span the interquartile range. "
         "Log scale: each grid step is 10×. Grey hatched bars answered wrongly and are not valid results.",
         _response_chart(views)),
        ("batch", "Batch-size sweep",
         f"Left: time to answer all {items}; right: {items} per second. The star marks the fastest batch size. "
         "Too small a batch pays per-task overhead many times; too large a batch leaves CPUs idle.",
         _batch_chart(views, best, analysis_of(results).get("model"), items)),
        ("naive", "Naive Ray vs task count",
         f"One task per {item}. A straight line means a fixed cost per task: the time is the task count divided by "
         "the task rate" + (f" (fit: {fmt_rate(fit['rate'])} tasks/s)." if fit else "."),
         _naive_chart(views, fit, item)),
        ("submit", "Submission latency",
         "Time the driver spends inside .remote() calls per trial, and per task. It grows with the number of tasks, "
         "not with the work.",
         _submit_chart(views)),
        ("resources", "Per-node CPU and memory",
         "Sampled on every node during each run (CPU as % of one core; the dotted line is the node's CPU count × 100%).",
         resources_chart(results)),
        ("latency", "Per-task latency distribution",
         "Cumulative distribution of the time from each task's submission to its result being available.",
         _latency_chart(views)),
        ("anatomy", "The anatomy of a task",
         "A separate diagnostic run per batch size after the timed trials, at most one task per CPU in flight (so "
         "each phase is a task's cost, not its wait for a CPU): each task's latency split into phases from Ray's "
         "task events. Submission is the driver's .remote(); scheduling and lease includes spillback from the "
         "driver's 0-CPU node; execution ends when the result reaches the driver's node. The residual is the "
         "measured latency minus the phases' sum.",
         charts_cluster.task_anatomy(anatomy_rows(results))),
        ("calibration", "Naive throughput vs calibration",
         "The calibration measures how many empty (no-op) tasks per second this cluster completes; naive Ray "
         "cannot beat it, whatever the work.",
         _calibration_chart(views, results)),
    ]
    return [Figure(key, title, caption, svg) for key, title, caption, svg in figures if svg]
