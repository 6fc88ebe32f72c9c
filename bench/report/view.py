"""Typed views of one results file: what the page shows of each run, read once from Results.

Every figure is computed from the raw per-trial samples with bench.stats, so the page
and a reader's own arithmetic agree (bench.results upgrades older files on load).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Mapping

from bench.analysis.wording import run_warning_text
from bench.format import fmt_compact, fmt_int
from bench.results import Results, Run
from bench.stats import HIGH_CV, Stats

if TYPE_CHECKING:  # these modules import this one: names for the annotations only
    from bench.report.notes import FaultRow, NodeRow
    from bench.report.reproduce import Reproduce
    from bench.report.verdict import Verdict

WORK_BOUND_ARRAY = 1000  # array_size from which the work per lookup, not Ray's per-task cost, sets the time


@dataclass(frozen=True)
class Summary:
    median: float
    q1: float
    q3: float
    cv: float | None
    n: int
    values: tuple

    @classmethod
    def of_series(cls, series: list[float]) -> "Summary":
        stats = Stats(series)
        # one sample has no spread: no CV (a 0% would read as a perfectly steady row)
        cv = stats.cv if stats.n >= 2 and math.isfinite(stats.cv) else None
        return cls(stats.median, stats.q1, stats.q3, cv, stats.n, tuple(series))

    @classmethod
    def of(cls, run: Run, metric: str) -> "Summary | None":
        series = [float(v) for v in (run.samples.get(metric) or ())
                  if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return cls.of_series(series) if series else None


@dataclass(frozen=True)
class MetricSummaries:
    """One Summary (or None) per metric the page shows; METRICS lists their names."""
    response_s: Summary | None
    lookups_per_s: Summary | None
    tasks_per_s: Summary | None
    submit_s: Summary | None
    submit_per_task_s: Summary | None
    task_latency_p50_s: Summary | None
    task_latency_p95_s: Summary | None
    task_latency_p99_s: Summary | None

    @classmethod
    def of(cls, run: Run) -> "MetricSummaries":
        return cls(**{metric: Summary.of(run, metric) for metric in METRICS})


METRICS = tuple(f.name for f in fields(MetricSummaries))


@dataclass(frozen=True)
class NodeLoss:
    hostname: str
    node_id: Any
    cpus: Any
    at_s: float | None  # seconds into the run when the driver saw it
    reason: Any


@dataclass(frozen=True)
class InjectedFault:
    event: str
    target: str
    at_s: float | None


@dataclass(frozen=True)
class RunFaults:
    """What the results say about node losses and injected faults during one run."""
    lost: tuple[NodeLoss, ...]
    joined: tuple[str, ...]
    faults: tuple[InjectedFault, ...]
    detection_s: tuple[float, ...]
    start: dict | None  # nodes_start: {alive, alive_with_cpus, cpus}
    end: dict | None
    fewer_nodes: bool
    lost_samplers: tuple[str, ...]
    answers_ok: bool
    answers: str
    badge: str
    costs: tuple = ()  # run.extra["fault_cost"]: what each fault cost its trial (bench.engine.faultcost)


@dataclass(frozen=True)
class RunView:
    run: Run
    label: str
    mode: str
    short: str
    correct: bool
    excluded: str | None
    tasks: Any
    queries: int | None
    batch_size: Any
    trials_planned: Any
    stats: MetricSummaries
    response: Summary | None
    per_lookup_s: float | None
    cv: float | None
    high_cv: bool
    warnings: tuple[str, ...]
    faults: RunFaults | None
    speedup_seq: float | None = None
    speedup_naive: float | None = None


def as_dicts(value) -> list:
    return [dict(v) if isinstance(v, Mapping) else v for v in (value or ())]


def short_label(run: Run) -> str:
    """A run's name in a few characters, for the resource chart's run bands."""
    if run.mode == "sequential":
        return "seq"
    if run.mode == "multiprocessing":
        return "mp"
    if run.mode == "ray-naive":
        return f"naive {fmt_compact(run.params.get('tasks'))}"
    if run.mode == "ray-batched":
        return f"B={fmt_compact(run.params.get('batch_size'))}"
    return run.label


def _excluded(run: Run) -> str | None:
    if run.correct:
        return None
    if run.extra.get("error"):
        return f"failed: {run.extra.get('error')}"
    if run.extra.get("mismatches"):
        return f"wrong answers: {run.extra.get('mismatches'):,} mismatches vs the sequential reference"
    return "answers not verified (missing trials or checksum mismatch)"


def run_view(run: Run, workload: Mapping) -> RunView:
    stats = MetricSummaries.of(run)
    response = stats.response_s
    queries = run.params.get("queries") or workload.get("queries")
    cv = response.cv if response else None
    warnings = tuple(run_warning_text(w, run.extra.get("outliers") or ()) if isinstance(w, Mapping) else str(w)
                     for w in (run.extra.get("warnings") or ()))
    return RunView(
        run=run, label=run.label, mode=run.mode, short=short_label(run), correct=run.correct,
        excluded=_excluded(run), tasks=run.params.get("tasks"), queries=queries,
        batch_size=run.params.get("batch_size"), trials_planned=run.params.get("trials"),
        stats=stats, response=response,
        per_lookup_s=response.median / queries if response and queries else None,
        cv=cv, high_cv=cv is not None and cv > HIGH_CV, warnings=warnings, faults=run_faults(run),
    )


def _answers(run: Run) -> str:
    extra = run.extra
    if run.correct:
        return "yes: every trial's answers matched the reference"
    if extra.get("error"):
        return f"no: the run failed ({extra.get('error')})"
    if extra.get("mismatches"):
        return f"no: {fmt_int(extra.get('mismatches'))} answers differed from the reference"
    return "no: not every trial finished with verified answers"


def run_faults(run: Run) -> RunFaults | None:
    """Node losses and injected faults during one run, or None if nothing happened.

    Times are seconds into the run (from its started_unix, on the driver's clock); a fault's
    time comes from the chaos harness's log, a loss's from when the driver's node watcher saw it.
    """
    extra = run.extra
    events = [e for e in as_dicts(extra.get("node_events")) if isinstance(e, dict)]
    faults = [f for f in as_dicts(extra.get("faults")) if isinstance(f, dict)]
    start = dict(extra["nodes_start"]) if isinstance(extra.get("nodes_start"), Mapping) else None
    end = dict(extra["nodes_end"]) if isinstance(extra.get("nodes_end"), Mapping) else None
    lost = [e for e in events if e.get("event") == "node_lost"]
    joined = [e for e in events if e.get("event") == "node_joined"]
    fewer = bool(start and end and end.get("alive") is not None and start.get("alive") is not None
                 and end["alive"] < start["alive"])
    if not (lost or joined or faults or fewer):
        return None
    t0 = extra.get("started_unix")

    def into(unix):
        return (float(unix) - float(t0)) if isinstance(unix, (int, float)) and isinstance(t0, (int, float)) else None

    return RunFaults(
        lost=tuple(NodeLoss(e.get("hostname") or str(e.get("node_id") or "unknown node")[:12], e.get("node_id"),
                            e.get("cpus"), into(e.get("detected_unix")), e.get("reason")) for e in lost),
        joined=tuple(e.get("hostname") or str(e.get("node_id"))[:12] for e in joined),
        faults=tuple(InjectedFault(f.get("event") or "fault", f.get("target") or "–", into(f.get("unix")))
                     for f in faults),
        detection_s=tuple(float(d) for d in (extra.get("loss_detection_s") or ()) if isinstance(d, (int, float))),
        start=start, end=end, fewer_nodes=fewer,
        lost_samplers=tuple(sorted(str(d.get("hostname") or node_id)[:40]
                                   for node_id, d in (extra.get("resources") or {}).items()
                                   if isinstance(d, Mapping) and d.get("lost"))),
        answers_ok=run.correct, answers=_answers(run),
        badge="node lost" if (lost or fewer) else ("fault injected" if faults else "node joined"),
        costs=tuple(dict(c) for c in as_dicts(extra.get("fault_cost")) if isinstance(c, dict)),
    )


# --- what a results file says about its cluster ------------------------------------------------


def analysis_of(results: Results) -> dict:
    """results.analysis (bench.analysis.model): model, auto, harness; each may be None or absent."""
    analysis = getattr(results, "analysis", None) or {}
    return {k: v for k, v in analysis.items() if isinstance(v, Mapping)}


def nodes_of(results: Results) -> list[dict]:
    return [dict(n) for n in (results.cluster.get("nodes") or ())]


def cluster_cpus(results: Results) -> float | None:
    cluster = results.cluster
    return cluster.get("cluster_cpus") or (cluster.get("nodes_start") or {}).get("cpus") or results.metadata.get("cpu_count")


def calibration_summary(results: Results) -> Summary | None:
    calibration = results.cluster.get("calibration") or {}
    series = (calibration.get("samples") or {}).get("tasks_per_s")
    if series:
        return Summary.of_series(list(series))
    stat = (calibration.get("stats") or {}).get("tasks_per_s")
    return Summary.of_stored(stat) if stat and stat.get("median") else None  # a zero rate is no calibration


def where(results: Results) -> str:
    """'2 nodes with 4 CPUs in total (Ray 2.x cluster at ...)'."""
    nodes = [n for n in nodes_of(results) if n.get("alive", True)]
    cpus = cluster_cpus(results)
    cpus_text = f"{fmt_int(cpus)} CPU{'s' if cpus != 1 else ''}" if cpus else "unknown CPUs"
    mode = results.cluster.get("mode")
    if nodes:
        text = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''} with {cpus_text} in total"
    else:
        text = f"one machine ({cpus_text}), without Ray"
    ray = results.metadata.get("ray_version")
    if mode == "embedded":
        text += f" (embedded local Ray {ray})" if ray else " (embedded local Ray)"
    elif mode == "existing":
        text += f" (Ray {ray} cluster at {results.cluster.get('address')})"
    return text


def _heavy(workload: Mapping, suite: str | None) -> bool:
    size = workload.get("array_size")
    return suite == "heavy" or (isinstance(size, (int, float)) and size >= WORK_BOUND_ARRAY)


def is_work_bound(results: Results) -> bool:
    return _heavy(results.workload, results.suite)


def workload_words(workload: Mapping) -> str:
    """The work in one phrase: the lookups' parameters, or a user's function and its items."""
    if workload.get("kind") == "function":
        return (f"{fmt_int(workload.get('items'))} items of {workload.get('function')} "
                f"({workload.get('items_source') or 'range'})")
    return (f"{fmt_int(workload.get('queries'))} lookups in an array of {fmt_int(workload.get('array_size'))} "
            f"values in 0..{fmt_int(workload.get('value_range'))}, seed {workload.get('seed')}")


def workload_title(workload: Mapping, suite: str | None = None) -> str:
    """'work-bound: 20,000 lookups in ...' (the regime, then the work); a user's function has no regime."""
    if workload.get("kind") == "function":
        return f"your function: {workload_words(workload)}"
    return f"{'work-bound' if _heavy(workload, suite) else 'overhead-bound'}: {workload_words(workload)}"


def first_correct(views, mode: str) -> RunView | None:
    return next((v for v in views if v.mode == mode and v.correct and v.per_lookup_s), None)


def fastest_correct(views, mode: str) -> RunView | None:
    runs = [v for v in views if v.mode == mode and v.correct and v.per_lookup_s]
    return min(runs, key=lambda v: v.per_lookup_s) if runs else None


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    caption: str
    svg: str


@dataclass(frozen=True)
class Note:
    """A line under "Before you trust these numbers": level is ok, info, warn or error."""
    level: str
    text: str
    run: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class SectionView:
    """One results file's part of the page."""
    index: int
    anchor: str
    name: str
    path: str
    json_name: str
    csv_name: str
    results: Results
    status: str
    incomplete_reason: Any
    seed: Any
    reference_checksum: Any
    what_ran: str
    where: str
    workload_title: str
    views: tuple[RunView, ...]
    verdict: Verdict
    fit: dict | None
    calibration: Summary | None
    charts: tuple[Figure, ...]
    preflight: tuple[Note, ...]
    stability: tuple[Note, ...]
    environment: tuple[tuple[str, str], ...]
    nodes: tuple[NodeRow, ...]
    reproduce: Reproduce
    extras: dict  # the file's other top-level objects, shown as they are
    analysis_rows: tuple[tuple[str, str], ...]
    faults: tuple[FaultRow, ...]
    finished: tuple[str, ...]
    items: str = "lookups"  # the unit of work in words (bench.results.item_words)
    item: str = "lookup"
