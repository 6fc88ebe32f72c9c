"""The HTML report: one self-contained page from one or more results files.

Reads only results JSON (no Ray). Every figure on the page is computed here from the
raw per-trial samples with bench.stats, so the page and a reader's own arithmetic
agree. Templates live in templates/ (jinja2), charts come from bench.charts (inline
SVG), nothing is loaded from the network. The page is written last and atomically,
after the raw JSON and a CSV summary beside it, so a reader never sees a partial
report and the links on it always resolve.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from bench.errors import RuntimeFailure, UsageError
from bench.format import fmt_bytes, fmt_int, fmt_pct, fmt_rate, fmt_ratio, fmt_speedup, fmt_time
from bench.results import Results, Run
from bench.stats import HIGH_CV, Stats

TEMPLATE_DIR = Path(os.environ.get("BENCH_TEMPLATES") or Path(__file__).resolve().parent.parent / "templates")
METRICS = (
    "response_s", "lookups_per_s", "tasks_per_s", "submit_s", "submit_per_task_s",
    "task_latency_p50_s", "task_latency_p95_s", "task_latency_p99_s",
)
AUTH_OFF = {"off", "none", "disabled", "false", "no"}


def _faster(ratio: float | None) -> str:
    """'6.8× faster than' / '2.1× slower than' for a ratio other/this."""
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        return "not comparable with"
    if ratio >= 1:
        return f"{fmt_ratio(ratio)} faster than"
    return f"{fmt_ratio(1 / ratio)} slower than"


# --- the numbers of one run -------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    median: float
    q1: float
    q3: float
    cv: float | None
    n: int
    values: tuple

    @classmethod
    def of(cls, run: Run, metric: str) -> "Summary | None":
        series = [float(v) for v in (run.samples.get(metric) or ()) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if series:
            stats = Stats(series)
            cv = stats.cv if math.isfinite(stats.cv) else None
            return cls(stats.median, stats.q1, stats.q3, cv, stats.n, tuple(series))
        stat = run.stats.get(metric)
        if stat and stat.get("median") is not None:  # an older file without raw samples
            return cls(stat["median"], stat.get("q1", stat["median"]), stat.get("q3", stat["median"]),
                       stat.get("cv"), int(stat.get("n", 0)), ())
        return None


def _queries(run: Run, workload: dict) -> int | None:
    return run.params.get("queries") or workload.get("queries")


def _short(run: Run) -> str:
    if run.mode == "sequential":
        return "seq"
    if run.mode == "multiprocessing":
        return "mp"
    if run.mode == "ray-naive":
        return f"naive {_compact(run.params.get('tasks'))}"
    if run.mode == "ray-batched":
        return f"B={_compact(run.params.get('batch_size'))}"
    return run.label


def _compact(value) -> str:
    if not isinstance(value, (int, float)):
        return str(value)
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:g}{suffix}"
    return f"{value:g}"


def run_view(run: Run, workload: dict) -> dict:
    stats = {metric: Summary.of(run, metric) for metric in METRICS}
    response = stats["response_s"]
    queries = _queries(run, workload)
    per_lookup = response.median / queries if response and queries else None
    warnings = [w.get("message", str(w)) if isinstance(w, Mapping) else str(w) for w in (run.extra.get("warnings") or ())]
    cv = response.cv if response else None
    excluded = None
    if not run.correct:
        if run.extra.get("error"):
            excluded = f"failed: {run.extra.get('error')}"
        elif run.extra.get("mismatches"):
            excluded = f"wrong answers: {run.extra.get('mismatches'):,} mismatches vs the sequential reference"
        else:
            excluded = "answers not verified (missing trials or checksum mismatch)"
    return {
        "run": run,
        "label": run.label,
        "mode": run.mode,
        "short": _short(run),
        "correct": run.correct,
        "excluded": excluded,
        "tasks": run.params.get("tasks"),
        "queries": queries,
        "batch_size": run.params.get("batch_size"),
        "trials_planned": run.params.get("trials"),
        "stats": stats,
        "response": response,
        "per_lookup_s": per_lookup,
        "cv": cv,
        "high_cv": cv is not None and cv > HIGH_CV,
        "warnings": warnings,
        "faults": run_faults(run),
        "speedup_seq": None,
        "speedup_naive": None,
    }


# --- node losses and injected faults ---------------------------------------------------------


def _counts(value) -> dict | None:
    """A run's nodes_start / nodes_end: {alive, alive_with_cpus, cpus}, or None."""
    return dict(value) if isinstance(value, Mapping) else None


def _seq(value) -> list:
    return [dict(v) if isinstance(v, Mapping) else v for v in (value or ())]


def run_faults(run: Run) -> dict | None:
    """What the results say about node losses and injected faults during one run, or None if nothing happened.

    Times are seconds into the run (from its started_unix, on the driver's clock); a fault's
    time comes from the chaos harness's log, a loss's from when the driver's node watcher saw it.
    """
    extra = run.extra
    events = [e for e in _seq(extra.get("node_events")) if isinstance(e, dict)]
    faults = [f for f in _seq(extra.get("faults")) if isinstance(f, dict)]
    delays = [float(d) for d in (extra.get("loss_detection_s") or ()) if isinstance(d, (int, float))]
    start, end = _counts(extra.get("nodes_start")), _counts(extra.get("nodes_end"))
    lost = [e for e in events if e.get("event") == "node_lost"]
    joined = [e for e in events if e.get("event") == "node_joined"]
    fewer = bool(start and end and end.get("alive") is not None and start.get("alive") is not None
                 and end["alive"] < start["alive"])
    lost_samplers = sorted(str(d.get("hostname") or node_id)[:40] for node_id, d in (extra.get("resources") or {}).items()
                           if isinstance(d, Mapping) and d.get("lost"))
    if not (lost or joined or faults or fewer):
        return None
    t0 = extra.get("started_unix")

    def into(unix):
        return (float(unix) - float(t0)) if isinstance(unix, (int, float)) and isinstance(t0, (int, float)) else None

    losses = [{
        "hostname": e.get("hostname") or str(e.get("node_id") or "unknown node")[:12],
        "node_id": e.get("node_id"),
        "cpus": e.get("cpus"),
        "at_s": into(e.get("detected_unix")),
        "reason": e.get("reason"),
    } for e in lost]
    injected = [{
        "event": f.get("event") or "fault",
        "target": f.get("target") or "–",
        "at_s": into(f.get("unix")),
    } for f in faults]
    if run.correct:
        answers = "yes: every trial's answers matched the reference"
    elif extra.get("error"):
        answers = f"no: the run failed ({extra.get('error')})"
    elif extra.get("mismatches"):
        answers = f"no: {fmt_int(extra.get('mismatches'))} answers differed from the reference"
    else:
        answers = "no: not every trial finished with verified answers"
    return {
        "lost": losses,
        "joined": [e.get("hostname") or str(e.get("node_id"))[:12] for e in joined],
        "faults": injected,
        "detection_s": delays,
        "start": start,
        "end": end,
        "fewer_nodes": fewer,
        "lost_samplers": lost_samplers,
        "answers_ok": run.correct,
        "answers": answers,
        "badge": "node lost" if (lost or fewer) else ("fault injected" if faults else "node joined"),
    }


def _counts_text(counts: dict | None) -> str:
    if not counts:
        return "not recorded"
    alive, with_cpus, cpus = counts.get("alive"), counts.get("alive_with_cpus"), counts.get("cpus")
    text = f"{fmt_int(alive)} node{'s' if alive != 1 else ''}"
    if with_cpus is not None and with_cpus != alive:
        text += f" ({fmt_int(with_cpus)} with CPUs)"
    return text + (f", {fmt_int(cpus)} CPUs" if cpus is not None else "")


def fault_rows(views: list[dict], results: Results) -> list[dict]:
    """One entry per run that lost (or gained) a node or had a fault injected, in words, for the page."""
    rows = []
    for v in views:
        f = v["faults"]
        if not f:
            continue
        lines = []
        for loss in f["lost"]:
            text = f"Lost node {loss['hostname']}"
            if loss["cpus"]:
                text += f" ({fmt_int(loss['cpus'])} CPU{'s' if loss['cpus'] != 1 else ''})"
            text += f", detected {fmt_time(loss['at_s'])} into the run" if loss["at_s"] is not None else ", detection time not recorded"
            if loss["reason"]:
                text += f"; Ray says: {str(loss['reason']).rstrip('. ')}"
            lines.append(text + ".")
        for fault in f["faults"]:
            lines.append(f"Injected fault: {fault['event']} on {fault['target']}"
                         + (f", {fmt_time(fault['at_s'])} into the run." if fault["at_s"] is not None else "."))
        if f["detection_s"]:
            lines.append("Detection delay (fault to the driver seeing the loss): "
                         + ", ".join(fmt_time(d) for d in f["detection_s"]) + ".")
        elif f["faults"] and f["lost"]:
            lines.append("Detection delay: not observable (no loss followed a logged fault).")
        elif f["lost"] and not f["faults"]:
            lines.append("Detection delay: not observable (no fault log: the loss was not injected by the chaos harness, "
                         "or BENCH_FAULT_LOG was not set).")
        elif f["faults"] and not f["lost"]:
            lines.append("No node loss was seen after this fault before the run ended.")
        if f["fewer_nodes"] and not f["lost"]:
            lines.append("Fewer nodes were alive at the end than at the start, but the node watcher recorded no loss event.")
        for host in f["joined"]:
            lines.append(f"Node {host} joined during the run.")
        if f["lost_samplers"]:
            lines.append("No resource samples came back from " + ", ".join(f["lost_samplers"])
                         + " for this run: its series in the per-node chart ends before it.")
        rows.append({
            "label": v["label"],
            "badge": f["badge"],
            "level": "error" if (f["lost"] or f["fewer_nodes"]) else "warn",
            "lines": lines,
            "start": _counts_text(f["start"]),
            "end": _counts_text(f["end"]),
            "answers": f["answers"],
            "answers_ok": f["answers_ok"],
        })
    # losses the watcher saw between runs (cluster.node_events holds every event of the suite)
    seen = {l.get("node_id") for v in views if v["faults"] for l in v["faults"]["lost"]}
    starts = [r.extra.get("started_unix") for r in results.runs if isinstance(r.extra.get("started_unix"), (int, float))]
    t0 = min(starts) if starts else None
    for e in _seq(results.cluster.get("node_events")):
        if isinstance(e, dict) and e.get("event") == "node_lost" and e.get("node_id") not in seen:
            at = (float(e["detected_unix"]) - t0) if t0 is not None and isinstance(e.get("detected_unix"), (int, float)) else None
            rows.append({
                "label": "between runs",
                "badge": "node lost",
                "level": "error",
                "lines": [f"Lost node {e.get('hostname') or str(e.get('node_id'))[:12]}"
                          + (f", detected {fmt_time(at)} after the first run started" if at is not None else "")
                          + (f"; Ray says: {e.get('reason')}" if e.get("reason") else "") + "."],
                "start": "–", "end": "–", "answers": "no run was in progress", "answers_ok": None,
            })
    return rows


# --- one results file ------------------------------------------------------------------


@dataclass
class Source:
    path: Path
    name: str
    results: Results
    raw_text: str
    raw: dict
    json_name: str = ""
    csv_name: str = ""


def _pick_naive_reference(views: list[dict], queries: int | None) -> dict | None:
    naive = [v for v in views if v["mode"] == "ray-naive" and v["correct"] and v["response"]]
    if not naive:
        return None
    same = [v for v in naive if v["queries"] == queries]
    if same:
        return same[0]
    return max(naive, key=lambda v: v["tasks"] or 0)


def _best(views: list[dict], mode: str) -> dict | None:
    runs = [v for v in views if v["mode"] == mode and v["correct"] and v["per_lookup_s"]]
    return min(runs, key=lambda v: v["per_lookup_s"]) if runs else None


def _first(views: list[dict], mode: str) -> dict | None:
    return next((v for v in views if v["mode"] == mode and v["correct"] and v["per_lookup_s"]), None)


def _analysis(results: Results) -> dict:
    """results.analysis (bench.model): model, auto, harness; each may be None or absent."""
    analysis = getattr(results, "analysis", None) or {}
    return {k: v for k, v in analysis.items() if isinstance(v, Mapping)}


def _nodes(results: Results) -> list[dict]:
    return [dict(n) for n in (results.cluster.get("nodes") or ())]


def _cpus(results: Results) -> float | None:
    cluster = results.cluster
    return cluster.get("cluster_cpus") or (cluster.get("nodes_start") or {}).get("cpus") or results.metadata.get("cpu_count")


def _where(results: Results) -> str:
    nodes = [n for n in _nodes(results) if n.get("alive", True)]
    cpus = _cpus(results)
    cpus_text = f"{fmt_int(cpus)} CPU{'s' if cpus != 1 else ''}" if cpus else "unknown CPUs"
    mode = results.cluster.get("mode")
    if nodes:
        where = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''} with {cpus_text} in total"
    else:
        where = f"one machine ({cpus_text}), without Ray"
    ray = results.metadata.get("ray_version")
    if mode == "embedded":
        where += f" (embedded local Ray {ray})" if ray else " (embedded local Ray)"
    elif mode == "existing":
        where += f" (Ray {ray} cluster at {results.cluster.get('address')})"
    return where


WORK_BOUND_ARRAY = 1000  # array_size from which the work per lookup, not Ray's per-task cost, sets the time
TARGET_EFFICIENCY = 0.9


def is_work_bound(results: Results) -> bool:
    size = results.workload.get("array_size")
    return results.suite == "heavy" or (isinstance(size, (int, float)) and size >= WORK_BOUND_ARRAY)


def workload_title(workload: Mapping, suite: str | None = None) -> str:
    """'work-bound: 20,000 lookups in a 10,000-element array' (the regime, then the work)."""
    size = workload.get("array_size")
    heavy = suite == "heavy" or (isinstance(size, (int, float)) and size >= WORK_BOUND_ARRAY)
    regime = "work-bound" if heavy else "overhead-bound"
    return (f"{regime}: {fmt_int(workload.get('queries'))} lookups in a {fmt_int(size)}-element array "
            f"(values 0..{fmt_int(workload.get('value_range'))}, seed {workload.get('seed')})")


def _vs_mp(view: dict, mp: dict | None) -> tuple[str | None, float | None]:
    """Words for a run's time against multiprocessing's, and the time ratio (run / mp)."""
    if not mp or not view["per_lookup_s"] or not mp["per_lookup_s"]:
        return None, None
    ratio = view["per_lookup_s"] / mp["per_lookup_s"]
    if ratio <= 1.0:
        return f"matches or beats multiprocessing ({fmt_pct(1 - ratio)} faster than {mp['label']})", ratio
    if ratio <= 1.05:
        return f"matches multiprocessing (within 5%: {fmt_pct(ratio - 1)} slower than {mp['label']})", ratio
    return f"is {fmt_pct(ratio - 1)} slower than multiprocessing ({mp['label']})", ratio


def work_bound_facts(views: list[dict], results: Results, seq: dict | None, batched: dict | None,
                     auto: dict | None) -> dict | None:
    """Speed-up, parallel efficiency and the multiprocessing comparison for the work-bound regime."""
    cpus = _cpus(results)
    if not seq or not cpus or not (batched or auto):
        return None
    mp = _first(views, "multiprocessing")
    out = {"cpus": cpus, "target": TARGET_EFFICIENCY, "runs": []}
    for view in (batched, auto):
        if not view:
            continue
        speedup = seq["per_lookup_s"] / view["per_lookup_s"]
        words, ratio = _vs_mp(view, mp)
        out["runs"].append({"view": view, "speedup": speedup, "efficiency": speedup / cpus,
                            "vs_mp": words, "mp_ratio": ratio})
    lead = out["runs"][0]
    reasons = []
    if lead["efficiency"] < TARGET_EFFICIENCY:
        view = lead["view"]
        median = view["response"].median
        tasks = view["tasks"]
        if tasks and tasks < cpus:
            reasons.append(f"{view['label']} ran only {fmt_int(tasks)} task{'s' if tasks != 1 else ''} for "
                           f"{fmt_int(cpus)} CPUs, so some CPUs had nothing to do.")
        model = _analysis(results).get("model")
        if model and model.get("per_task_overhead_s") is not None and tasks and median:
            per_task = tasks * model["per_task_overhead_s"] / cpus
            fixed = model.get("fixed_cost_s") or 0.0
            reasons.append(
                f"The overhead model (analysis.model) puts Ray's per-task overhead at {fmt_time(model['per_task_overhead_s'])} "
                f"× {fmt_int(tasks)} tasks / {fmt_int(cpus)} CPUs ≈ {fmt_time(per_task)}, {fmt_pct(per_task / median)} of this run's "
                f"{fmt_time(median)}, and its fixed cost per run at {fmt_time(fixed)} ({fmt_pct(fixed / median)}).")
        host = results.metadata.get("cgroup_cpu_limit") or results.metadata.get("cpu_count")
        if results.cluster.get("mode") == "embedded" and host and host <= cpus:
            reasons.append(
                f"The driver, Ray's own processes (GCS, raylet) and {fmt_int(cpus)} worker{'s' if cpus != 1 else ''} "
                f"share a {fmt_int(host)}-core host: submitting tasks, collecting and checking answers and "
                f"sampling resources take CPU time from the workers.")
        if mp and mp["per_lookup_s"]:
            mp_speedup = seq["per_lookup_s"] / mp["per_lookup_s"]
            procs = mp["run"].params.get("processes") or cpus
            if mp_speedup / procs < TARGET_EFFICIENCY:
                reasons.append(
                    f"{mp['label']} reached only {fmt_ratio(mp_speedup)} with {fmt_int(procs)} processes "
                    f"(efficiency {fmt_pct(mp_speedup / procs)}) on the same host: the machine (other load, shared cores), "
                    f"not only Ray, limits the speed-up.")
        if view["high_cv"] or seq["high_cv"]:
            reasons.append(f"The times are noisy (CV {fmt_pct(view['cv'])} for {view['label']}, {fmt_pct(seq['cv'])} "
                           f"for sequential), so the efficiency itself is uncertain.")
        if not reasons:
            reasons.append("The results do not show why: no overhead model, no CPU shortage and no contention was recorded.")
    elif lead["efficiency"] > 1.1:
        host = results.metadata.get("cgroup_cpu_limit") or results.metadata.get("cpu_count")
        reasons.append(
            f"Efficiency above 100% is not super-linear scaling: Ray's CPU count ({fmt_int(cpus)}) is a scheduling "
            f"limit, not a hard one" + (f", and this host has {fmt_int(host)} cores for the driver, Ray and its workers"
                                       if host and host > cpus else "")
            + "; a noisy sequential baseline inflates it too.")
    out["reasons"] = reasons
    return out


def verdict(views: list[dict], results: Results) -> dict:
    """The headline in plain words, and the facts behind it."""
    workload = dict(results.workload)
    queries = workload.get("queries")
    seq = _first(views, "sequential")
    naive_ref = _pick_naive_reference(views, queries)
    batched = _best(views, "ray-batched")
    numpy_run = _first(views, "numpy")
    auto = _first(views, "ray-auto")
    excluded = [v for v in views if not v["correct"]]
    lines: list[str] = []
    headline = None

    def vs(view, other):
        if not view or not other or not view["per_lookup_s"] or not other["per_lookup_s"]:
            return None
        return other["per_lookup_s"] / view["per_lookup_s"]

    if batched:
        parts = []
        r_seq = vs(batched, seq)
        r_naive = vs(batched, naive_ref)
        if r_naive is not None:
            parts.append(f"{_faster(r_naive)} naive Ray")
        if r_seq is not None:
            parts.append(f"{_faster(r_seq)} sequential Python")
        batch = batched["batch_size"]
        head = f"Batched Ray (B = {fmt_int(batch)} lookups per task) is " if batch else "Batched Ray is "
        headline = head + (" and ".join(parts) if parts else "the only Ray mode that ran correctly") + "."
        lines.append(
            f"Best batched run: {batched['label']}, {fmt_int(batched['tasks'])} tasks, answered "
            f"{fmt_int(batched['queries'])} lookups in {fmt_time(batched['response'].median)} (median)."
        )
    else:
        valid = [v for v in views if v["correct"] and v["per_lookup_s"]]
        if valid:
            fastest = min(valid, key=lambda v: v["per_lookup_s"])
            headline = f"Fastest correct mode: {fastest['label']} ({fmt_time(fastest['response'].median)} for {fmt_int(fastest['queries'])} lookups)."
        else:
            headline = "No run finished with correct answers: there is no verdict."
    if seq:
        lines.append(f"Sequential Python (the baseline): {fmt_time(seq['response'].median)} for {fmt_int(seq['queries'])} lookups.")
    if naive_ref:
        naive_line = (
            f"Naive Ray (one task per lookup) at {fmt_int(naive_ref['tasks'])} tasks: "
            f"{fmt_time(naive_ref['response'].median)}, {fmt_rate(naive_ref['stats']['lookups_per_s'].median if naive_ref['stats']['lookups_per_s'] else None)} lookups/s"
        )
        if queries and naive_ref["queries"] != queries:
            naive_line += (
                f"; it was not run at {fmt_int(queries)} tasks, so the comparison is per lookup "
                f"(scaled linearly, {fmt_int(queries)} lookups would take ≈ {fmt_time(naive_ref['per_lookup_s'] * queries)})"
            )
        lines.append(naive_line + ".")
    if numpy_run:
        lines.append(f"For scale, vectorised numpy in one process (the work with no per-task overhead) took {fmt_time(numpy_run['response'].median)}.")
    if auto:
        line = (f"ray-auto (the tool picks B from a short probe of per-lookup work and per-task overhead) chose B = {fmt_int(auto['batch_size'])} "
                if auto["batch_size"] else "ray-auto ")
        line += f"and took {fmt_time(auto['response'].median)}"
        if batched and batched["per_lookup_s"]:
            ratio = auto["per_lookup_s"] / batched["per_lookup_s"]
            line += (f", {fmt_ratio(ratio)} the time of the best swept size" if ratio >= 1.005
                     else ", as fast as the best swept size" if ratio > 0.995
                     else f", {fmt_ratio(1 / ratio)} faster than the best swept size")
        lines.append(line + ".")
    lesson = None
    calibration = calibration_summary(results)
    if seq and (naive_ref or calibration):
        work = seq["per_lookup_s"]
        overhead = None
        source = ""
        if naive_ref and naive_ref["stats"]["tasks_per_s"]:
            overhead = 1 / naive_ref["stats"]["tasks_per_s"].median
            source = f"naive Ray completed {fmt_rate(naive_ref['stats']['tasks_per_s'].median)} tasks/s"
        elif calibration:
            overhead = 1 / calibration.median
            source = f"{fmt_rate(calibration.median)} no-op tasks/s"
        if overhead and work:
            lesson = (
                f"Why: one lookup is about {fmt_time(work)} of work, but the cluster gets through one task only every "
                f"{fmt_time(overhead)} of wall time ({source}; scheduling, messaging and the lookup together): "
                f"≈ {fmt_ratio(overhead / work)} the work itself. "
                f"Batching many lookups into one task pays the per-task cost once per batch."
            )
    model = _analysis(results).get("model")
    if model and model.get("per_task_overhead_s") is not None:
        text = (f"A model fitted to the batch sweep ({_fit_words(model)}) puts the overhead at "
                f"{fmt_time(model['per_task_overhead_s'])} of worker time per task plus {fmt_time(model.get('fixed_cost_s'))} per run")
        if model.get("break_even_lookups_per_task"):
            text += (f"; a task needs about {fmt_int(round(model['break_even_lookups_per_task']))} lookups "
                     f"({fmt_time(model.get('break_even_work_per_task_s'))} of work) before Ray beats one Python loop")
        lines.append(text + ".")
    if batched and seq and batched["per_lookup_s"] > seq["per_lookup_s"]:
        cpus = _cpus(results)
        lines.append(
            f"Even the best batched run is slower than one Python loop here: the whole job is small "
            f"({fmt_time(seq['response'].median)} of work in one process)"
            + (f" and {fmt_int(cpus)} CPUs can save at most {fmt_time(seq['response'].median * (1 - 1 / cpus))} of it"
               if cpus and cpus > 1 else "")
            + ", less than Ray's fixed cost per run (object store put, scheduling, result transfer). "
            "Raise --queries or --array-size to see the regime where the work dominates."
        )
    work_bound = work_bound_facts(views, results, seq, batched, auto) if is_work_bound(results) else None
    if work_bound:
        lead = work_bound["runs"][0]
        view = lead["view"]
        name = (f"batched Ray (B = {fmt_int(view['batch_size'])})" if view["mode"] == "ray-batched"
                else f"ray-auto (B = {fmt_int(view['batch_size'])})")
        cpus = work_bound["cpus"]
        headline = (f"Work-bound: {name} is {_faster(lead['speedup'])} sequential Python on {fmt_int(cpus)} "
                    f"CPU{'s' if cpus != 1 else ''}, a parallel efficiency of {fmt_pct(lead['efficiency'])} "
                    f"({'meets' if lead['efficiency'] >= TARGET_EFFICIENCY else 'below'} the {TARGET_EFFICIENCY:.0%} target)"
                    + (f", and {lead['vs_mp']}" if lead["vs_mp"] else "") + ".")
        for item in work_bound["runs"][1:]:
            lines.insert(0, f"{item['view']['label']} (B = {fmt_int(item['view']['batch_size'])}, chosen by the tool): "
                         f"{fmt_speedup(item['speedup'])} than sequential, parallel efficiency {fmt_pct(item['efficiency'])}"
                         + (f"; it {item['vs_mp']}" if item["vs_mp"] else "") + ".")
        lines.insert(0, "Parallel efficiency is the speed-up over sequential Python divided by the cluster's "
                        f"{fmt_int(cpus)} CPU{'s' if cpus != 1 else ''} (1 = linear scaling).")
    return {
        "headline": headline,
        "work_bound": work_bound,
        "lines": lines,
        "lesson": lesson,
        "excluded": [f"{v['label']}: {v['excluded']}" for v in excluded],
        "seq": seq,
        "naive_ref": naive_ref,
        "batched": batched,
    }


def calibration_summary(results: Results) -> Summary | None:
    calibration = results.cluster.get("calibration") or {}
    series = (calibration.get("samples") or {}).get("tasks_per_s")
    if series:
        stats = Stats(list(series))
        return Summary(stats.median, stats.q1, stats.q3, stats.cv if math.isfinite(stats.cv) else None, stats.n, tuple(series))
    stat = (calibration.get("stats") or {}).get("tasks_per_s")
    if stat and stat.get("median"):
        return Summary(stat["median"], stat.get("q1", stat["median"]), stat.get("q3", stat["median"]), stat.get("cv"), int(stat.get("n", 0)), ())
    return None


def preflight_warnings(results: Results, raw: dict) -> list[dict]:
    """Checks a reader wants before trusting the numbers: level is 'warn' or 'info'."""
    found = []
    meta, cluster = results.metadata, results.cluster
    store_total = cluster.get("object_store_memory_bytes")
    for node in _nodes(results):
        shm, store = node.get("shm_bytes"), node.get("object_store_memory_bytes")
        if shm and store and shm < store:
            found.append({"level": "warn", "text": (
                f"Node {node.get('hostname') or node.get('node_id')}: /dev/shm is {fmt_bytes(shm)}, smaller than its "
                f"object store ({fmt_bytes(store)}). Ray spills objects to disk-backed files; size shm_size to the object store.")})
    if not any(n.get("shm_bytes") for n in _nodes(results)) and meta.get("shm_bytes") and store_total and meta["shm_bytes"] < store_total:
        found.append({"level": "warn", "text": f"/dev/shm on the driver is {fmt_bytes(meta['shm_bytes'])}, smaller than the object store ({fmt_bytes(store_total)})."})
    expected = cluster.get("expected_nodes")
    alive_start = (cluster.get("nodes_start") or {}).get("alive")
    if alive_start is None and _nodes(results):
        alive_start = sum(1 for n in _nodes(results) if n.get("alive", True))
    if expected and alive_start is not None and alive_start < expected:
        found.append({"level": "warn", "text": f"Only {alive_start} node(s) were alive, fewer than the {expected} expected."})
    alive_end = (cluster.get("nodes_end_counts") or {}).get("alive")
    if alive_start is not None and alive_end is not None and alive_end < alive_start:
        found.append({"level": "warn", "text": f"Nodes were lost during the suite: {alive_start} alive at the start, {alive_end} at the end."})
    auth = meta.get("ray_auth_mode", cluster.get("auth_mode"))
    if auth is None:
        found.append({"level": "info", "text": "Ray token authentication: unknown (this results file does not record it)."})
    elif str(auth).lower() in AUTH_OFF:
        level = "info" if cluster.get("mode") == "embedded" else "warn"
        found.append({"level": level, "text": f"Ray token authentication is off ({auth})" + (
            ": acceptable for an embedded local Ray, not for a shared cluster." if level == "info" else
            ": anyone who can reach the cluster's ports can run code on it.")})
    else:
        found.append({"level": "ok", "text": f"Ray authentication mode: {auth}."})
    cpu_limit = meta.get("cgroup_cpu_limit")
    if cpu_limit and meta.get("cpu_count") and cpu_limit < meta["cpu_count"]:
        found.append({"level": "info", "text": f"The driver is limited to {cpu_limit:g} CPUs by its cgroup (host has {meta['cpu_count']})."})
    return found


def stability_warnings(views: list[dict], results: Results) -> list[dict]:
    """Run warnings grouped by kind (one line for 'CV too high in 8 runs', not eight lines), then failures."""
    found = []
    unstable = [v for v in views if v["high_cv"]]
    if unstable:
        found.append({"level": "warn", "run": None, "kind": "unstable", "text": (
            f"Response time varies by more than {HIGH_CV:.0%} (CV) in {len(unstable)} of {len(views)} runs: "
            + ", ".join(f"{v['label']} {fmt_pct(v['cv'])}" for v in unstable)
            + ". Rerun on a quieter machine or with more --trials; medians and ratios are still meaningful, their last digit is not.")})
    grouped: dict[str, list] = {}
    for view in views:
        for w in view["run"].extra.get("warnings") or ():
            kind = w.get("kind", "other") if isinstance(w, Mapping) else "other"
            message = w.get("message", str(w)) if isinstance(w, Mapping) else str(w)
            if kind == "unstable" or "CV" in message:
                continue  # covered above, from the samples themselves
            grouped.setdefault(message, []).append(view["label"])
    for message, labels in grouped.items():
        found.append({"level": "warn", "run": ", ".join(labels), "kind": "run", "text": message})
    for view in views:
        if view["run"].extra.get("error"):
            found.append({"level": "error", "run": view["label"], "kind": "error", "text": f"failed: {view['run'].extra['error']}"})
    calibration = calibration_summary(results)
    if calibration and calibration.cv is not None and calibration.cv > HIGH_CV:
        found.append({"level": "warn", "run": "calibration", "kind": "unstable",
                      "text": f"no-op task rate CV is {fmt_pct(calibration.cv)} (> {HIGH_CV:.0%}): the machine was busy or noisy"})
    return found


def environment_rows(results: Results, raw: dict) -> list[tuple[str, str]]:
    meta, cluster, workload = results.metadata, results.cluster, results.workload
    rows = [
        ("Results file status", results.status + (f" ({results.incomplete_reason})" if results.incomplete_reason else "")),
        ("Suite", str(results.suite)),
        ("Started (UTC)", str(meta.get("started_utc", "–"))),
        ("Workload", f"{fmt_int(workload.get('queries'))} lookups in an array of {fmt_int(workload.get('array_size'))} values in 0..{fmt_int(workload.get('value_range'))}, seed {workload.get('seed')}"),
        ("Reference checksum", str(workload.get("reference_checksum", "–"))),
        ("Cluster", f"{cluster.get('mode', '–')}" + (f" at {cluster.get('address')}" if cluster.get("address") else "")),
        ("Nodes and CPUs", _where(results)),
        ("Object store (all nodes)", fmt_bytes(cluster.get("object_store_memory_bytes"))),
        ("Ray init", fmt_time(cluster.get("init_s")) if cluster.get("init_s") is not None else "–"),
        ("Ray auth", str(meta.get("ray_auth_mode", cluster.get("auth_mode", "unknown (not recorded)")))),
        ("Driver host", f"{meta.get('host', '–')}: {meta.get('cpu_model') or 'unknown CPU'}, {fmt_int(meta.get('cpu_count'))} CPUs, {fmt_bytes(meta.get('memory_bytes'))} RAM, /dev/shm {fmt_bytes(meta.get('shm_bytes'))}"),
        ("cgroup limits (driver)", f"CPU {meta.get('cgroup_cpu_limit') or 'none'}, memory {fmt_bytes(meta.get('cgroup_memory_limit_bytes')) if meta.get('cgroup_memory_limit_bytes') else 'none'}"),
        ("Platform", str(meta.get("platform", "–"))),
        ("Versions", ", ".join(f"{name} {meta.get(key)}" for name, key in (
            ("bench", "bench_version"), ("Ray", "ray_version"), ("Python", "python_version"), ("numpy", "numpy_version"))
            if meta.get(key))),
        ("Image", f"{meta.get('image') or '– (not run from the appliance image)'}" + (f" ({meta.get('image_id')})" if meta.get("image_id") else "")),
        ("Git commit", str(meta.get("git_commit") or "– (not recorded)")),
        ("Command", str(meta.get("command_line", "–"))),
    ]
    known = {"bench_version", "ray_version", "python_version", "numpy_version", "host", "platform", "cpu_model",
             "cpu_count", "memory_bytes", "cgroup_cpu_limit", "cgroup_memory_limit_bytes", "shm_bytes", "git_commit",
             "image", "image_id", "command_line", "started_utc", "ray_auth_mode"}
    for key, value in meta.items():  # fields later versions add: show, don't interpret
        if key not in known and isinstance(value, (str, int, float, bool)):
            rows.append((key, str(value)))
    return rows


def _fit_words(model: dict) -> str:
    """The model's fit on the relative scale it was fitted on; older files have only R²."""
    if model.get("rms_relative_error") is None:
        return f"R² = {model['r_squared']:.3f}" if model.get("r_squared") is not None else "fit quality unknown"
    text = (f"RMS relative error {fmt_pct(model['rms_relative_error'])}, worst point "
            f"{model['max_relative_residual']:+.0%} at B = {fmt_int(model.get('worst_point_batch_size'))}")
    return text + (" — a misfit: read c and the break-even as rough" if model.get("misfit") else "")


def analysis_rows(results: Results) -> list[tuple[str, str]]:
    """The derived figures of results.analysis that a reader can use, in words."""
    analysis = _analysis(results)
    rows = []
    model = analysis.get("model")
    if model:
        rows += [
            ("Overhead model", str(model.get("formula", "–"))),
            ("Fit quality", _fit_words(model) + f" over {len(model.get('points') or ())} batch sizes"),
            ("Per-task overhead c", fmt_time(model.get("per_task_overhead_s"))),
            ("Fixed cost per run a", fmt_time(model.get("fixed_cost_s"))),
            ("Work per lookup w", f"{fmt_time(model.get('per_lookup_work_s'))} ({model.get('per_lookup_work_source', '–')})"),
            ("Best measured batch size", f"B = {fmt_int(model.get('best_batch_size'))} ({fmt_time(model.get('best_time_s'))})"),
            ("Smallest B within 5% of the best", f"measured {fmt_int(model.get('smallest_batch_within_5pct'))}, model {fmt_int(model.get('model_smallest_batch_within_5pct'))}"),
        ]
        if model.get("break_even_lookups_per_task"):
            rows.append(("Break-even task size", f"{fmt_int(round(model['break_even_lookups_per_task']))} lookups ({fmt_time(model.get('break_even_work_per_task_s'))} of work) per task"))
    auto = analysis.get("auto")
    if auto and auto.get("ratio"):
        rows.append(("ray-auto vs best swept", f"B = {fmt_int(auto.get('auto_batch_size'))}: {fmt_time(auto.get('auto_median_s'))} vs "
                     f"B = {fmt_int(auto.get('best_batch_size'))}: {fmt_time(auto.get('best_median_s'))} ({auto['ratio']:.2f}× the time)"
                     + (f"; its probe took {fmt_time(auto['probe_s'])}" if auto.get("probe_s") else "")))
    harness = analysis.get("harness")
    if harness and harness.get("ratio"):
        rows.append(("Naive vs no-op task rate", f"{fmt_rate(harness.get('naive_tasks_per_s'))} vs {fmt_rate(harness.get('calibration_tasks_per_s'))} tasks/s "
                     f"({harness['ratio']:.2f}) at {fmt_int(harness.get('naive_tasks'))} tasks"))
        if harness.get("ratio_vs_same_arguments"):
            rows.append(("Naive vs no-op tasks taking the same arguments",
                         f"{fmt_rate(harness.get('naive_tasks_per_s'))} vs {fmt_rate(harness.get('calibration_with_args_tasks_per_s'))} "
                         f"tasks/s ({harness['ratio_vs_same_arguments']:.2f}): what remains is the harness's own cost "
                         f"plus the lookup work; the rest of the gap is passing the array by value"))
    return rows + measurement_rows(results)


def measurement_rows(results: Results) -> list[tuple[str, str]]:
    """How the trials were taken: rounds and order, why rows stopped, outliers, the machine's state."""
    rows = []
    order = results.config.get("order") or ()
    if order:
        rows.append(("Trial order", f"{len(order)} interleaved rounds, each in a seeded random order "
                     f"(config.order): trial k of every configuration runs in round k, so drift spreads over all"))
    reasons: dict[str, list[str]] = {}
    for run in results.runs:
        if run.extra.get("stop_reason"):
            reasons.setdefault(str(run.extra["stop_reason"]), []).append(
                f"{run.label} ({len(run.samples.get('response_s') or ())})")
    if reasons:
        target = results.config.get("target_cv")
        rows.append(("Why each row stopped" + (f" (CV target {fmt_pct(target)})" if target else ""),
                     "; ".join(f"{reason}: {', '.join(labels)}" for reason, labels in reasons.items())))
    outliers = [f"{run.label} trial {o['trial'] + 1} ({fmt_time(o['response_s'])}, {o['vs_median']:.2f}× the median)"
                for run in results.runs for o in (run.extra.get("outliers") or ()) if o.get("vs_median")]
    if outliers:
        rows.append(("Outlier trials (kept, named)", "; ".join(outliers)))
    idle = results.cluster.get("idle_load") or {}
    if idle.get("host_busy_cores") is not None:
        rows.append(("Idle load before the trials",
                     f"{idle['host_busy_cores']:.2f} cores busy on the host; Ray nodes' own use "
                     f"{idle.get('nodes_total_pct_of_core', 0):.0f}% of one core in all, over {idle.get('window_s', 0):g} s"))
    for warning in (results.cluster.get("system_check") or {}).get("warnings") or ():
        rows.append(("System check", warning))
    settings = results.cluster.get("driver_settings") or {}
    slice_ms = settings.get("RAY_get_check_signal_interval_milliseconds")
    if slice_ms:
        rows.append(("Driver's ray.get slice", f"{slice_ms} ms ({settings.get('source', '')}; Ray's default 1000 ms "
                     f"stalled cross-node gets of large results by ~1 s)"))
    return rows


def node_rows(results: Results) -> list[dict]:
    rows = []
    for node in _nodes(results):
        rows.append({
            "host": node.get("hostname") or "–",
            "ip": node.get("ip") or "–",
            "role": "head" if node.get("is_head") else "worker",
            "alive": node.get("alive", True),
            "cpus": fmt_int(node.get("cpus")),
            "host_cpus": fmt_int(node.get("host_cpus")),
            "cpu_limit": fmt_int(node.get("cpu_limit")) if node.get("cpu_limit") else "none",
            "memory": fmt_bytes(node.get("memory_bytes")),
            "host_memory": fmt_bytes(node.get("host_memory_bytes")),
            "memory_limit": fmt_bytes(node.get("memory_limit_bytes")) if node.get("memory_limit_bytes") else "none",
            "object_store": fmt_bytes(node.get("object_store_memory_bytes")),
            "shm": fmt_bytes(node.get("shm_bytes")),
            "shm_small": bool(node.get("shm_bytes") and node.get("object_store_memory_bytes")
                              and node["shm_bytes"] < node["object_store_memory_bytes"]),
        })
    return rows


def _shell_join(argv: list[str]) -> str:
    import shlex

    return shlex.join(argv)


def reproduce(results: Results, views: list[dict], path: str | None = None) -> dict:
    """Commands that rerun the same suite with the same parameters and seed."""
    meta, workload, cluster = results.metadata, results.workload, results.cluster
    runs = results.runs
    modes = list(dict.fromkeys(r.mode for r in runs))
    config = results.config
    if config:
        argv = _argv_from_config(config)
    else:
        argv = _argv_from_runs(results)
    blocks = _reproduce_blocks(results, argv)
    if path:
        blocks["blocks"].append(_repro_block(results, path))
    return blocks


def _repro_block(results: Results, path: str) -> dict:
    """`bench repro`: the same re-run, then a verdict per row against this file."""
    name = Path(path).name
    if results.config:
        lines = [_shell_join(["python", "-m", "bench", "repro", path]),
                 "# in the Docker appliance (the file in results/):",
                 _shell_join(["make", "repro", f"FILE=results/{name}"])]
    else:  # written before the run configuration was recorded: re-run by hand, then compare the two
        lines = ["# this file predates the recorded run configuration: re-run with the command above, then",
                 _shell_join(["python", "-m", "bench", "repro", path, "NEW.json"])]
    return {"title": "Re-run and check each row against this file (exit 1 if a row differs beyond tolerance)",
            "lines": lines}


def _argv_from_config(config) -> list[str]:
    """Every recorded parameter as an explicit flag: exact, whatever the defaults become."""
    argv = ["python", "-m", "bench", "run", "--suite", str(config.get("suite") or "standard")]
    flags = (("--modes", "modes"), ("--queries", "queries"), ("--array-size", "array_size"),
             ("--value-range", "value_range"), ("--seed", "seed"), ("--trials", "trials"),
             ("--batch-sizes", "batch_sizes"), ("--naive-tasks", "naive_tasks"), ("--window", "window"),
             ("--num-cpus", "num_cpus"), ("--address", "address"), ("--expect-nodes", "expect_nodes"))
    for flag, key in flags:
        value = config.get(key)
        if value is None or value == () or value == []:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        argv += [flag, str(value)]
    return argv


def _argv_from_runs(results: Results) -> list[str]:
    """Files written before results.config existed: rebuild the flags from the runs."""
    meta, workload, cluster = results.metadata, results.workload, results.cluster
    runs = results.runs
    modes = list(dict.fromkeys(r.mode for r in runs))
    argv = ["python", "-m", "bench", "run", "--suite", str(results.suite or "standard")]
    for flag, key in (("--queries", "queries"), ("--array-size", "array_size"), ("--value-range", "value_range"), ("--seed", "seed")):
        if workload.get(key) is not None:
            argv += [flag, str(workload[key])]
    trials = max((r.params.get("trials") or 0 for r in runs), default=0)
    if trials:
        argv += ["--trials", str(trials)]
    if modes:
        argv += ["--modes", ",".join(modes)]
    sizes = sorted({int(r.params["batch_size"]) for r in runs if r.mode == "ray-batched" and r.params.get("batch_size")})
    if sizes:
        argv += ["--batch-sizes", ",".join(map(str, sizes))]
    tasks = sorted({int(r.params["tasks"]) for r in runs if r.mode == "ray-naive" and r.params.get("tasks")})
    if tasks:
        argv += ["--naive-tasks", ",".join(map(str, tasks))]
    window = next((r.params.get("window") for r in runs if r.params.get("window")), None)
    if window:
        argv += ["--window", str(window)]
    if cluster.get("address"):
        argv += ["--address", str(cluster["address"])]
    elif cluster.get("mode") == "embedded" and cluster.get("cluster_cpus") and meta.get("cpu_count") \
            and cluster["cluster_cpus"] < meta["cpu_count"]:
        argv += ["--num-cpus", str(int(cluster["cluster_cpus"]))]
    if cluster.get("expected_nodes"):
        argv += ["--expect-nodes", str(cluster["expected_nodes"])]
    return argv


def _reproduce_blocks(results: Results, argv: list[str]) -> dict:
    meta = results.metadata
    explicit = _shell_join(argv)
    # Nodes that ran tasks: in the appliance these are the workers (the head has 0 CPUs).
    workers = len([n for n in _nodes(results) if n.get("alive", True) and (n.get("cpus") or 0) > 0])
    image = meta.get("image")
    blocks = []
    commit = meta.get("git_commit")
    blocks.append({
        "title": "Same code",
        "lines": [f"git checkout {commit}"] if commit else ["# the git commit was not recorded; use bench " + str(meta.get("bench_version", "?"))],
    })
    blocks.append({"title": "As it was run", "lines": [str(meta.get("command_line") or "# not recorded")]})
    blocks.append({"title": "Same suite, every parameter spelled out (defaults can change between versions)",
                   "lines": [explicit]})
    docker_run = [a for a in argv]
    if "--address" not in docker_run:
        docker_run += ["--address", "auto"]
    if "--num-cpus" in docker_run:  # embedded-only flag
        index = docker_run.index("--num-cpus")
        del docker_run[index:index + 2]
    if "--expect-nodes" not in docker_run and workers:
        docker_run += ["--expect-nodes", str(workers)]
    compose_lines = []
    if image:
        compose_lines.append(f"# image used: {image}" + (f" ({meta.get('image_id')})" if meta.get("image_id") else ""))
    compose_lines += [
        f"docker compose up -d --scale ray-worker={workers or 1}",
        "docker compose exec bench " + _shell_join(docker_run),
        "# or, for the whole appliance flow (cluster, suite, this report):",
        "make report",
    ]
    blocks.append({"title": "In the Docker appliance", "lines": compose_lines})
    return {"blocks": blocks, "explicit": explicit}


# --- chart data --------------------------------------------------------------------------


def _chart_response(views):
    from bench import charts

    rows = [{"label": v["label"], "mode": v["mode"], "median": v["response"].median, "q1": v["response"].q1,
             "q3": v["response"].q3, "correct": v["correct"]} for v in views if v["response"]]
    return charts.response_by_mode(rows)


def _chart_batch(views, best, model=None):
    from bench import charts

    points = []
    for v in views:
        if v["mode"] == "ray-batched" and v["response"] and v["batch_size"]:
            rate = v["stats"]["lookups_per_s"]
            points.append({"batch_size": v["batch_size"], "median": v["response"].median, "q1": v["response"].q1,
                           "q3": v["response"].q3, "lookups_per_s": rate.median if rate else None,
                           "correct": v["correct"], "best": best is not None and v is best})
    refs = []
    for mode in ("sequential", "numpy", "multiprocessing"):
        ref = _first(views, mode)
        if ref:
            rate = ref["stats"]["lookups_per_s"]
            refs.append({"label": ref["label"], "mode": mode, "median": ref["response"].median,
                         "lookups_per_s": rate.median if rate else None})
    return charts.batch_sweep(points, refs, model=model)


def naive_fit(views) -> dict | None:
    """The naive runs' line (bench.model.naive_fit) through their median times."""
    from bench.model import naive_fit as fit_line

    pts = [(v["tasks"], v["response"].median) for v in views
           if v["mode"] == "ray-naive" and v["correct"] and v["response"] and v["tasks"]]
    return fit_line(pts)


def _chart_naive(views, fit):
    from bench import charts

    points = [{"tasks": v["tasks"], "median": v["response"].median, "q1": v["response"].q1, "q3": v["response"].q3,
               "correct": v["correct"]} for v in views if v["mode"] == "ray-naive" and v["response"] and v["tasks"]]
    return charts.naive_scaling(points, fit)


def _chart_submit(views):
    from bench import charts

    points = []
    for v in views:
        total, per = v["stats"]["submit_s"], v["stats"]["submit_per_task_s"]
        if total and per and v["mode"].startswith("ray"):
            points.append({"label": v["label"], "mode": v["mode"], "tasks": v["tasks"], "submit_s": total.median,
                           "submit_per_task_s": per.median, "correct": v["correct"]})
    return charts.submission_latency(points)


def _chart_resources(results: Results):
    from bench import charts

    runs = [r for r in results.runs if r.extra.get("started_unix")]
    if not runs:
        return None
    t0 = min(r.extra["started_unix"] for r in runs)
    spans = [{"short": _short(r), "start": r.extra["started_unix"] - t0,
              "end": (r.extra.get("ended_unix") or r.extra["started_unix"]) - t0} for r in runs]
    interleaved = bool(results.config.get("order"))
    if interleaved:  # every run spans all the rounds: one span for the measured rounds
        spans = [{"short": "interleaved rounds", "start": min(s["start"] for s in spans),
                  "end": max(s["end"] for s in spans)}]
    names = {n.get("node_id"): n.get("hostname") for n in _nodes(results)}
    cpus = {n.get("node_id"): n.get("cpus") for n in _nodes(results)}
    series: dict[str, list] = {}
    hostnames: dict[str, str] = {}
    for run in runs:
        for node_id, data in (run.extra.get("resources") or {}).items():
            if not isinstance(data, Mapping):
                continue
            hostnames.setdefault(node_id, data.get("hostname") or names.get(node_id) or str(node_id)[:8])
            points = series.setdefault(node_id, [])
            samples = [s for s in (data.get("samples") or ()) if isinstance(s, (list, tuple)) and len(s) >= 3]
            if points and samples and not interleaved:
                points.append(None)  # a gap between runs
            for t, cpu, mem in (tuple(s[:3]) for s in samples):
                points.append((t - t0, cpu, mem))
    if interleaved:  # runs' samples interleave in time: one time-ordered series per node
        series = {node_id: sorted(set(points)) for node_id, points in series.items()}
    lost_at: dict[str, float | None] = {}
    for run in runs:
        for node_id, data in (run.extra.get("resources") or {}).items():
            if isinstance(data, Mapping) and data.get("lost"):
                lost_at.setdefault(node_id, None)
                hostnames.setdefault(node_id, data.get("hostname") or names.get(node_id) or str(node_id)[:8])
                series.setdefault(node_id, [])
    events = [e for r in runs for e in _seq(r.extra.get("node_events"))] + _seq(results.cluster.get("node_events"))
    for e in events:
        if isinstance(e, dict) and e.get("event") == "node_lost" and isinstance(e.get("detected_unix"), (int, float)):
            node_id = e.get("node_id")
            when = e["detected_unix"] - t0
            if lost_at.get(node_id) is None or when < lost_at[node_id]:
                lost_at[node_id] = when
            hostnames.setdefault(node_id, e.get("hostname") or names.get(node_id) or str(node_id)[:8])
            series.setdefault(node_id, [])
    faults = [{"t": f["unix"] - t0, "text": f"{f.get('event') or 'fault'} {f.get('target') or ''}".strip()}
              for r in runs for f in _seq(r.extra.get("faults"))
              if isinstance(f, dict) and isinstance(f.get("unix"), (int, float))]
    nodes = []
    for i, (node_id, points) in enumerate(series.items()):
        name = hostnames[node_id]
        if list(hostnames.values()).count(name) > 1:
            name = f"{name} ({str(node_id)[:6]})"
        nodes.append({"name": name, "cpus": cpus.get(node_id), "series": points,
                      "lost": node_id in lost_at, "lost_at": lost_at.get(node_id)})
    return charts.node_resources(nodes, spans, faults=faults)


def _chart_latency(views):
    from bench import charts

    series = []
    for v in views:
        trials = v["run"].extra.get("task_latencies_s") or ()
        pooled = [x for trial in trials for x in (trial or ()) if isinstance(x, (int, float))]
        if v["mode"].startswith("ray") and len(pooled) >= 2:
            series.append({"label": v["label"], "mode": v["mode"], "values": pooled, "correct": v["correct"]})
    return charts.task_latency_distribution(series)


def _chart_calibration(views, results):
    from bench import charts

    calib = calibration_summary(results)
    naive = []
    for v in views:
        rate = v["stats"]["tasks_per_s"]
        if v["mode"] == "ray-naive" and rate:
            naive.append({"label": v["label"], "median": rate.median, "q1": rate.q1, "q3": rate.q3, "correct": v["correct"]})
    return charts.naive_vs_calibration(
        {"median": calib.median, "q1": calib.q1, "q3": calib.q3} if calib else None, naive)


def build_section(source: Source, index: int, with_charts: bool = True) -> dict:
    results = source.results
    workload = dict(results.workload)
    views = [run_view(run, workload) for run in results.runs]
    facts = verdict(views, results)
    seq, naive_ref = facts["seq"], facts["naive_ref"]
    for v in views:
        if v["correct"] and v["per_lookup_s"]:
            if seq:
                v["speedup_seq"] = seq["per_lookup_s"] / v["per_lookup_s"]
            if naive_ref:
                v["speedup_naive"] = naive_ref["per_lookup_s"] / v["per_lookup_s"]
    fit = naive_fit(views)
    charts: list[dict] = []
    if with_charts:
        def add(key, title, caption, svg):
            if svg:
                charts.append({"key": key, "title": title, "caption": caption, "svg": svg})

        add("response", "Response time by run",
            "Median time from the first submission to the last result; whiskers span the interquartile range. "
            "Log scale: each grid step is 10×. Grey hatched bars answered wrongly and are not valid results.",
            _chart_response(views))
        add("batch", "Batch-size sweep",
            "Left: time to answer all lookups; right: lookups per second. The star marks the fastest batch size. "
            "Too small a batch pays per-task overhead many times; too large a batch leaves CPUs idle.",
            _chart_batch(views, facts["batched"], _analysis(results).get("model")))
        add("naive", "Naive Ray vs task count",
            "One task per lookup. A straight line means a fixed cost per task: the time is the task count divided by "
            "the task rate" + (f" (fit: {fmt_rate(fit['rate'])} tasks/s)." if fit else "."),
            _chart_naive(views, fit))
        add("submit", "Submission latency",
            "Time the driver spends inside .remote() calls per trial, and per task. It grows with the number of tasks, "
            "not with the work.",
            _chart_submit(views))
        add("resources", "Per-node CPU and memory",
            "Sampled on every node during each run (CPU as % of one core; the dotted line is the node's CPU count × 100%).",
            _chart_resources(results))
        add("latency", "Per-task latency distribution",
            "Cumulative distribution of the time from each task's submission to its result being available.",
            _chart_latency(views))
        add("calibration", "Naive throughput vs calibration",
            "The calibration measures how many empty (no-op) tasks per second this cluster completes; naive Ray "
            "cannot beat it, whatever the work.",
            _chart_calibration(views, results))
    calib = calibration_summary(results)
    extras = {k: v for k, v in source.raw.items()
              if k not in {"schema_version", "status", "incomplete_reason", "suite", "workload", "metadata", "cluster", "runs", "analysis"}}
    return {
        "index": index,
        "anchor": f"r{index}",
        "name": source.name,
        "path": str(source.path),
        "json_name": source.json_name,
        "csv_name": source.csv_name,
        "results": results,
        "status": results.status,
        "incomplete_reason": results.incomplete_reason,
        "what_ran": (
            f"Suite “{results.suite}”: {fmt_int(workload.get('queries'))} lookups (array of {fmt_int(workload.get('array_size'))} "
            f"values in 0..{fmt_int(workload.get('value_range'))}, seed {workload.get('seed')}), "
            f"{fmt_int(max((r.params.get('trials') or 0 for r in results.runs), default=0))} measured trials per run after a warm-up, "
            f"on {_where(results)}. Every run's answers are checked against the sequential reference."
        ),
        "where": _where(results),
        "views": views,
        "verdict": facts,
        "fit": fit,
        "calibration": calib,
        "charts": charts,
        "preflight": preflight_warnings(results, source.raw),
        "stability": stability_warnings(views, results),
        "environment": environment_rows(results, source.raw),
        "nodes": node_rows(results),
        "reproduce": reproduce(results, views, str(source.path)),
        "extras": {k: v for k, v in extras.items() if isinstance(v, dict)},
        "analysis_rows": analysis_rows(results),
        "faults": fault_rows(views, results),
        "workload_title": workload_title(workload, results.suite),
        "finished": [v["label"] for v in views if v["response"]],
    }


# --- several files -------------------------------------------------------------------------


def workload_key(results: Results) -> tuple:
    w = results.workload
    return (w.get("queries"), w.get("array_size"), w.get("value_range"), w.get("seed"))


def build_comparison(sections: list[dict]) -> dict | None:
    """Files side by side, grouped by workload; each group with several cluster sizes gets a scaling analysis."""
    if len(sections) < 2:
        return None
    buckets: dict[tuple, list[dict]] = {}
    for section in sections:
        buckets.setdefault(workload_key(section["results"]), []).append(section)
    groups = []
    single = []
    for index, members in enumerate(buckets.values()):
        results = members[0]["results"]
        title = workload_title(results.workload, results.suite)
        if len(members) < 2:
            single.append({"title": title, "name": members[0]["name"], "anchor": members[0]["anchor"]})
            continue
        group = {"title": title, "anchor": f"g{index}", "names": [m["name"] for m in members],
                 **_compare_table(members)}
        group.update(scaling_group(members, title, f"g{index}"))
        group["reproduction"] = reproduction_group(members)
        groups.append(group)
    if not groups:  # every file is a different workload (standard + heavy): sections of one story
        return None
    return {"groups": groups, "single": single, "alpha": _alpha()}


def _alpha():
    from bench import compare

    return compare.ALPHA


def _compare_table(sections: list[dict]) -> dict:
    from bench import charts, compare

    base = sections[0]["results"]
    keys: list[tuple] = []
    labels: dict[tuple, str] = {}
    for section in sections:
        for run in section["results"].runs:
            key = compare.run_key(run)
            if run.mode == "ray-batched" and run.params.get("per_cpu"):
                key = ("ray-batched", "per-cpu")
                labels.setdefault(key, "ray-batched, 1 task per CPU")
            if key not in labels:
                labels[key] = run.label if run.mode != "multiprocessing" else "multiprocessing"
            if key not in keys:
                keys.append(key)
    table = []
    medians: list[list[float | None]] = [[] for _ in sections]
    for key in keys:
        cells = []
        base_median = None
        for f, section in enumerate(sections):
            run = None
            for candidate in section["results"].runs:
                ck = ("ray-batched", "per-cpu") if candidate.mode == "ray-batched" and candidate.params.get("per_cpu") else compare.run_key(candidate)
                if ck == key:
                    run = candidate
                    break
            summary = Summary.of(run, "response_s") if run else None
            median = summary.median if summary and run.correct else None
            medians[f].append(median)
            if f == 0:
                base_median = median
            p_value = None
            if f > 0 and run is not None and sections[0]["results"].runs:
                base_run = next((c for c in base.runs if (("ray-batched", "per-cpu") if c.mode == "ray-batched" and c.params.get("per_cpu") else compare.run_key(c)) == key), None)
                if base_run is not None and run.correct and base_run.correct:
                    p_value = compare.mann_whitney_p(compare.response_samples(base_run), compare.response_samples(run))
            cells.append({
                "present": run is not None,
                "correct": run.correct if run else None,
                "median": median,
                "text": fmt_time(summary.median) if summary else "–",
                "ratio": (median / base_median) if f > 0 and median and base_median else None,
                "p": p_value,
                "run_label": run.label if run else None,
            })
        table.append({"label": labels[key], "cells": cells})
    differ = [
        f"{section['name']}: {compare.workload_difference(base, section['results'])}"
        for section in sections[1:] if compare.workload_difference(base, section["results"])
    ]
    svg = charts.side_by_side([row["label"] for row in table], [s["name"] for s in sections], medians)
    return {"table": table, "workloads_differ": differ, "chart": svg, "sections": sections}


def reproduction_group(sections: list[dict]) -> list[dict]:
    """bench.repro's verdicts for each file against the first earlier file of the same workload on
    the same number of CPUs (a re-run; other sizes are a scaling comparison, not a reproduction)."""
    from bench import repro

    found = []
    for i, later in enumerate(sections):
        cpus = later["results"].cluster.get("cluster_cpus")
        earlier = next((s for s in sections[:i] if s["results"].cluster.get("cluster_cpus") == cpus), None)
        if earlier is None:
            continue
        try:
            rep = repro.reproduction_table(earlier["results"], later["results"])
        except UsageError:  # not the same workload after all
            continue
        rows = [{
            "label": row.label, "status": row.status, "verdict": row.verdict, "ok": row.ok,
            "original": fmt_time(row.median_a), "new": fmt_time(row.median_b),
            "ratio": fmt_ratio(row.ratio), "tolerance": f"±{row.tolerance:.0%}",
            "p": "–" if row.p_value is None else f"{row.p_value:.3g}",
            "ci": "–" if row.ci is None else f"{row.ci[0]:.3f}–{row.ci[1]:.3f}",
        } for row in rep.rows]
        found.append({"original": earlier["name"], "new": later["name"], "reproduced": rep.reproduced,
                      "summary": rep.summary(), "rows": rows, "rule": rep.rule,
                      "tolerances": repro.tolerance_line(rep.tolerances).removeprefix("tolerance: "), "environment": list(rep.environment),
                      "command": _shell_join(["python", "-m", "bench", "repro", earlier["path"], later["path"]])})
    return found


SCALING_MODES = ("ray-batched", "ray-auto", "ray-naive", "multiprocessing")


def scaling_group(sections: list[dict], title: str = "", key: str = "scaling") -> dict:
    """bench.model.scaling over one workload's files: rows for the table and the speed-up/efficiency chart.

    Needs at least two distinct cluster CPU counts. When several files share a CPU count, the
    latest complete one stands for it (the others are named in a note).
    """
    empty = {"scaling": [], "scaling_chart": None, "scaling_notes": []}
    try:
        from bench.model import scaling
    except ImportError:
        return empty
    by_cpus: dict = {}
    notes = []
    for section in sections:
        cpus = section["results"].cluster.get("cluster_cpus")
        if not cpus:
            notes.append(f"{section['name']} does not record its cluster's CPUs and is left out.")
            continue
        by_cpus.setdefault(cpus, []).append(section)
    if len(by_cpus) < 2:
        return empty
    chosen = {}
    for cpus, members in by_cpus.items():
        ranked = sorted(members, key=lambda s: (s["results"].status == "complete",
                                                str(s["results"].metadata.get("started_utc") or "")))
        chosen[cpus] = ranked[-1]
        if len(members) > 1:
            notes.append(f"{len(members)} files at {fmt_int(cpus)} CPUs ({', '.join(m['name'] for m in members)}): "
                         f"{ranked[-1]['name']} is used.")
    for cpus, section in chosen.items():
        if section["results"].status != "complete":
            notes.append(f"{section['name']} ({fmt_int(cpus)} CPUs) is incomplete: modes it did not finish are missing.")
        if any(v["faults"] and (v["faults"]["lost"] or v["faults"]["fewer_nodes"]) for v in section["views"]):
            notes.append(f"{section['name']} ({fmt_int(cpus)} CPUs) lost a node during a run: its times are not a "
                         f"clean {fmt_int(cpus)}-CPU point.")
    ordered = [chosen[c] for c in sorted(chosen)]
    try:
        table = scaling([s["results"] for s in ordered], modes=SCALING_MODES)
    except Exception as exc:  # derived figures: never let them break the page
        return {**empty, "scaling_notes": notes + [f"scaling analysis failed: {exc}"]}
    rows = []
    names = {id(s["results"]): s["name"] for s in ordered}
    file_by_cpus = {int(c): names[id(chosen[c]["results"])] for c in chosen}
    for mode, points in (table or {}).items():
        for point in points:
            rows.append({
                "mode": mode, "label": point.get("label"), "cpus": point.get("cpus"), "nodes": point.get("nodes"),
                "file": file_by_cpus.get(point.get("cpus"), "–"),
                "median_s": point.get("median_s"), "speedup_v": point.get("speedup"),
                "efficiency_v": point.get("efficiency"),
                "median": fmt_time(point.get("median_s")),
                "speedup": fmt_ratio(point.get("speedup")), "ideal": fmt_ratio(point.get("ideal")),
                "efficiency": fmt_pct(point.get("efficiency")),
                "low": point.get("efficiency") is not None and point["efficiency"] < TARGET_EFFICIENCY,
                "vs_sequential": fmt_speedup(point.get("vs_sequential")),
            })
    procs = {s["results"].cluster.get("cluster_cpus"): next((r.params.get("processes") for r in s["results"].runs
                                                              if r.mode == "multiprocessing"), None) for s in ordered}
    fixed_pool = len({p for p in procs.values() if p}) == 1 and len(procs) > 1
    if fixed_pool and "multiprocessing" in (table or {}):
        notes.append(f"multiprocessing used {fmt_int(next(p for p in procs.values() if p))} processes in every file (the "
                     "driver's CPUs), whatever the cluster's size: its row is not a scaling measurement and is not drawn.")
        table = {m: pts for m, pts in table.items() if m != "multiprocessing"}
    for mode, points in (table or {}).items():
        first = points[0] if points else None
        if first and first.get("vs_sequential") and first["cpus"] and first["vs_sequential"] > 1.1 * first["cpus"]:
            notes.append(f"At {fmt_int(first['cpus'])} CPU{'s' if first['cpus'] != 1 else ''} {mode} is already "
                         f"{fmt_speedup(first['vs_sequential'])} than sequential, more than {fmt_int(first['cpus'])} CPU"
                         f"{'s' if first['cpus'] != 1 else ''} allow: that cluster's CPU count is a scheduling limit "
                         f"(e.g. embedded --num-cpus on a bigger host), not a hard one, so speed-up against it understates "
                         f"scaling. Read “vs sequential” as well.")
    short = [m for m, pts in (table or {}).items() if len(pts) < 2]
    if short:
        notes.append("Only one cluster size has a correct run of " + ", ".join(short) + ": no speed-up to draw.")
    from bench import charts

    series = [{"mode": mode, "points": [{"cpus": p["cpus"], "speedup": p["speedup"], "efficiency": p["efficiency"]}
                                        for p in points]}
              for mode, points in (table or {}).items() if len(points) >= 2]
    svg = charts.scaling(series, sorted(int(c) for c in chosen), title=title, name=f"scaling-{key}") if series else None
    return {"scaling": rows, "scaling_chart": svg, "scaling_notes": notes}


# --- files and the page ---------------------------------------------------------------------


def _safe_name(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "results"


def load_sources(paths: Sequence[str]) -> list[Source]:
    from bench import results as results_io

    if not paths:
        raise UsageError("report needs at least one results file (python -m bench report RESULTS.json ... --out reports/index.html)")
    sources = []
    used: set[str] = set()
    for path in paths:
        results = results_io.load(str(path))  # rejects missing, empty, non-JSON and wrong-version files
        text = Path(path).read_text(encoding="utf-8")
        raw = json.loads(text)
        stem = _safe_name(Path(str(path)).stem)
        name, n = stem, 2
        while name in used:
            name, n = f"{stem}-{n}", n + 1
        used.add(name)
        sources.append(Source(Path(str(path)), name, results, text, raw, f"{name}.json", f"{name}.csv"))
    return sources


def _environment():
    import jinja2

    if not (TEMPLATE_DIR / "report.html.j2").is_file():
        raise RuntimeFailure(f"report templates not found in {TEMPLATE_DIR} (set BENCH_TEMPLATES)")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(time=fmt_time, rate=fmt_rate, ratio=fmt_ratio, pct=fmt_pct, int=fmt_int, bytes=fmt_bytes)
    env.filters.update(speedup=fmt_speedup)
    env.globals.update(fmt_time=fmt_time, fmt_rate=fmt_rate)
    return env


def render(sources: Sequence[Source], with_charts: bool = True, generated_utc: str | None = None,
           bench_version: str | None = None) -> str:
    """The page. generated_utc and bench_version default to now and this version; tests pass fixed ones."""
    from bench import __version__
    from bench.metadata import utc_now

    sections = [build_section(source, i, with_charts) for i, source in enumerate(sources)]
    comparison = build_comparison(sections)
    if len(sections) == 1:
        s = sections[0]
        title = f"Ray task granularity: {s['results'].suite} suite on {s['where']}"
    else:
        title = f"Ray task granularity: {len(sections)} results compared"
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        sections=sections,
        comparison=comparison,
        generated_utc=generated_utc or utc_now(),
        bench_version=bench_version or __version__,
        high_cv=HIGH_CV,
    )


def write_report(paths: Sequence[str], out: str = "reports/index.html", charts: bool = True) -> Path:
    """The `bench report` command. Overwrites an earlier report (reports are regenerated), never partially."""
    from bench.export import to_csv
    from bench.results import write_atomic

    target = Path(str(out))
    if target.is_dir():
        raise UsageError(f"--out {target} is a directory; give a file name such as {target / 'index.html'}")
    if target.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {target}: the report is HTML; give a path ending in .html")
    sources = load_sources(paths)
    page = render(sources, with_charts=charts)  # everything is rendered before anything is written
    directory = target.parent if str(target.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for source in sources:
            raw_target = directory / source.json_name
            if not (raw_target.exists() and raw_target.resolve() == source.path.resolve()):
                write_atomic(raw_target, source.raw_text)
            write_atomic(directory / source.csv_name, to_csv(source.results))
        write_atomic(target, page)
        summary = summary_text(sources, target)
        write_atomic(directory / "summary.txt", summary)
    except OSError as exc:
        raise RuntimeFailure(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    print(summary, end="")
    return target


def summary_text(sources, target: Path) -> str:
    """The terminal verdict of every file in the report (bench.summary), then where the page is."""
    from bench.summary import verdict_lines

    parts = []
    for source in sources:
        parts.append(f"== {source.path.name} ({source.results.suite or 'results'})")
        parts += verdict_lines(source.results)
        parts.append("")
    parts.append(f"report: {target}")
    return "\n".join(parts) + "\n"
