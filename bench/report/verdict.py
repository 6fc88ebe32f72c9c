"""The headline in plain words: first the facts (which runs, which ratios), then the wording."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.analysis.facts import TARGET_EFFICIENCY, Facts, compute as compute_facts, physical_cores
from bench.analysis.wording import fmt_interval, speed_words
from bench.format import fmt_int, fmt_pct, fmt_rate, fmt_ratio, fmt_speedup, fmt_time
from bench.report.notes import fit_words
from bench.report.view import (RunView, Summary, analysis_of, calibration_summary, cluster_cpus, fastest_correct,
                               first_correct, is_work_bound)
from bench.results import Results, item_words



def faster_words(ratio: float | None) -> str:
    """'6.8× faster than' / '2.1× slower than' for a ratio other/this."""
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        return "not comparable with"
    if ratio >= 1:
        return f"{fmt_ratio(ratio)} faster than"
    return f"{fmt_ratio(1 / ratio)} slower than"


def _ratio(view: RunView | None, other: RunView | None) -> float | None:
    """How many times faster per lookup `view` is than `other`."""
    if not view or not other or not view.per_lookup_s or not other.per_lookup_s:
        return None
    return other.per_lookup_s / view.per_lookup_s


@dataclass(frozen=True)
class WorkBoundRun:
    view: RunView
    speedup: float
    efficiency: float
    vs_mp: str | None
    mp_ratio: float | None


@dataclass(frozen=True)
class WorkBoundFacts:
    cpus: float
    target: float
    runs: tuple[WorkBoundRun, ...]  # the best batched run first, then ray-auto
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class VerdictFacts:
    """The runs the verdict is about; every sentence is worded from these."""
    queries: int | None
    seq: RunView | None
    naive_ref: RunView | None
    batched: RunView | None
    numpy: RunView | None
    auto: RunView | None
    excluded: tuple[RunView, ...]
    calibration: Summary | None
    model: dict | None
    cpus: float | None
    work_bound: WorkBoundFacts | None
    items: str = "lookups"  # the unit of work in words (bench.results.item_words)
    item: str = "lookup"
    claims: Facts | None = None  # bench.analysis.facts: every ratio the page states comes from here


@dataclass(frozen=True)
class Verdict:
    headline: str
    lines: tuple[str, ...]
    lesson: str | None
    excluded: tuple[str, ...]
    work_bound: WorkBoundFacts | None
    seq: RunView | None
    naive_ref: RunView | None
    batched: RunView | None
    claims: Facts | None = None


def naive_reference(views, queries: int | None) -> RunView | None:
    """The naive run at the suite's lookup count, else the one with the most tasks."""
    naive = [v for v in views if v.mode == "ray-naive" and v.correct and v.response]
    if not naive:
        return None
    same = [v for v in naive if v.queries == queries]
    return same[0] if same else max(naive, key=lambda v: v.tasks or 0)


def _vs_mp(view: RunView, mp: RunView | None, claim=None) -> tuple[str | None, float | None]:
    """Words for a run's time against multiprocessing's, and the time ratio (run / mp): the
    claim's same-round figure (bench.analysis.facts) when there is one."""
    if not mp or not view.per_lookup_s or not mp.per_lookup_s:
        return None, None
    ratio = 1 / claim.value if claim is not None else view.per_lookup_s / mp.per_lookup_s
    if ratio <= 1.0:
        return f"matches or beats multiprocessing ({fmt_pct(1 - ratio)} faster than {mp.label})", ratio
    if ratio <= 1.05:
        return f"matches multiprocessing (within 5%: {fmt_pct(ratio - 1)} slower than {mp.label})", ratio
    return f"is {fmt_pct(ratio - 1)} slower than multiprocessing ({mp.label})", ratio


def _host_cores(results: Results):
    return results.metadata.get("cgroup_cpu_limit") or results.metadata.get("cpu_count")


def _reasons_below_target(lead: WorkBoundRun, seq: RunView, mp: RunView | None, cpus, results: Results) -> list[str]:
    """What the measurements say about an efficiency below the target."""
    reasons = []
    view = lead.view
    median, tasks = view.response.median, view.tasks
    if tasks and tasks < cpus:
        reasons.append(f"{view.label} ran only {fmt_int(tasks)} task{'s' if tasks != 1 else ''} for "
                       f"{fmt_int(cpus)} CPUs, so some CPUs had nothing to do.")
    model = analysis_of(results).get("model")
    if model and model.get("per_task_overhead_s") is not None and tasks and median:
        per_task = tasks * model["per_task_overhead_s"] / cpus
        fixed = model.get("fixed_cost_s") or 0.0
        reasons.append(
            f"The overhead model (analysis.model) puts Ray's per-task overhead at {fmt_time(model['per_task_overhead_s'])} "
            f"× {fmt_int(tasks)} tasks / {fmt_int(cpus)} CPUs ≈ {fmt_time(per_task)}, {fmt_pct(per_task / median)} of this run's "
            f"{fmt_time(median)}, and its fixed cost per run at {fmt_time(fixed)} ({fmt_pct(fixed / median)}).")
    host = _host_cores(results)
    if results.cluster.get("mode") == "embedded" and host and host <= cpus:
        reasons.append(
            f"The driver, Ray's own processes (GCS, raylet) and {fmt_int(cpus)} worker{'s' if cpus != 1 else ''} "
            f"share a {fmt_int(host)}-core host: submitting tasks, collecting and checking answers and "
            f"sampling resources take CPU time from the workers.")
    if mp and mp.per_lookup_s:
        mp_speedup = seq.per_lookup_s / mp.per_lookup_s
        procs = mp.run.params.get("processes") or cpus
        if mp_speedup / procs < TARGET_EFFICIENCY:
            reasons.append(
                f"{mp.label} reached only {fmt_ratio(mp_speedup)} with {fmt_int(procs)} processes "
                f"(efficiency {fmt_pct(mp_speedup / procs)}) on the same host: the machine (other load, shared cores), "
                f"not only Ray, limits the speed-up.")
    if view.high_cv or seq.high_cv:
        reasons.append(f"The times are noisy (CV {fmt_pct(view.cv)} for {view.label}, {fmt_pct(seq.cv)} "
                       f"for sequential), so the efficiency itself is uncertain.")
    return reasons or ["The results do not show why: no overhead model, no CPU shortage and no contention was recorded."]


def _reason_above_linear(cpus, results: Results) -> str:
    host = _host_cores(results)
    return (f"Efficiency above 100% is not super-linear scaling: Ray's CPU count ({fmt_int(cpus)}) is a scheduling "
            f"limit, not a hard one" + (f", and this host has {fmt_int(host)} cores for the driver, Ray and its workers"
                                       if host and host > cpus else "")
            + "; a noisy sequential baseline inflates it too.")


def work_bound_facts(views, results: Results, seq: RunView | None, batched: RunView | None,
                     auto: RunView | None, claims: Facts | None = None) -> WorkBoundFacts | None:
    """Speed-up, parallel efficiency and the multiprocessing comparison for the work-bound regime."""
    ray_cpus = cluster_cpus(results)
    cores, _ = physical_cores(results)
    # what can run in parallel: Ray's CPUs, capped by the host's physical cores (bench.analysis.facts)
    cpus = min(c for c in (ray_cpus, cores) if c) if (ray_cpus or cores) else None
    if not seq or not cpus or not (batched or auto):
        return None
    mp = first_correct(views, "multiprocessing")
    claims = claims or compute_facts(results)
    claim, mp_claim = claims.get("parallel_efficiency"), claims.get("batched_vs_multiprocessing")
    runs = []
    for view in (batched, auto):
        if view:
            lead = view is batched
            speedup = claim.detail["speedup"] if claim is not None and lead else seq.per_lookup_s / view.per_lookup_s
            words, ratio = _vs_mp(view, mp, mp_claim if lead else None)
            runs.append(WorkBoundRun(view, speedup, speedup / cpus, words, ratio))
    lead = runs[0]
    reasons: list[str] = []
    if lead.efficiency < TARGET_EFFICIENCY:
        reasons = _reasons_below_target(lead, seq, mp, cpus, results)
    elif lead.efficiency > 1.1:
        reasons = [_reason_above_linear(cpus, results)]
    return WorkBoundFacts(cpus, TARGET_EFFICIENCY, tuple(runs), tuple(reasons))


def verdict_facts(views, results: Results) -> VerdictFacts:
    queries = dict(results.workload).get("queries")
    items, item = item_words(dict(results.workload))
    seq = first_correct(views, "sequential")
    batched = fastest_correct(views, "ray-batched")
    auto = first_correct(views, "ray-auto")
    claims = compute_facts(results)  # once per file: the page's every ratio comes from here
    return VerdictFacts(
        queries=queries, seq=seq, naive_ref=naive_reference(views, queries), batched=batched,
        numpy=first_correct(views, "numpy"), auto=auto,
        excluded=tuple(v for v in views if not v.correct),
        calibration=calibration_summary(results), model=analysis_of(results).get("model"),
        cpus=cluster_cpus(results),
        work_bound=work_bound_facts(views, results, seq, batched, auto, claims) if is_work_bound(results) else None,
        items=items, item=item, claims=claims,
    )


# --- the wording ---------------------------------------------------------------------------------


def _overhead_headline(facts: VerdictFacts, views) -> str:
    batched = facts.batched
    if batched:
        parts = []
        for key, name in (("batched_vs_naive", "naive Ray"), ("batched_vs_sequential", "sequential Python")):
            fact = facts.claims.get(key) if facts.claims else None
            if fact is not None:
                parts.append(f"{speed_words(fact.value, fact.ci)} than {name}")
        batch = batched.batch_size
        head = f"Batched Ray (B = {fmt_int(batch)} {facts.items} per task) is " if batch else "Batched Ray is "
        return head + (" and ".join(parts) if parts else "the only Ray mode that ran correctly") + "."
    valid = [v for v in views if v.correct and v.per_lookup_s]
    if not valid:
        return "No run finished with correct answers: there is no verdict."
    fastest = min(valid, key=lambda v: v.per_lookup_s)
    return (f"Fastest correct mode: {fastest.label} ({fmt_time(fastest.response.median)} for "
            f"{fmt_int(fastest.queries)} {facts.items}).")


def _work_bound_headline(work_bound: WorkBoundFacts) -> str:
    lead = work_bound.runs[0]
    view, cpus = lead.view, work_bound.cpus
    name = (f"batched Ray (B = {fmt_int(view.batch_size)})" if view.mode == "ray-batched"
            else f"ray-auto (B = {fmt_int(view.batch_size)})")
    return (f"Work-bound: {name} is {faster_words(lead.speedup)} sequential Python on {fmt_int(cpus)} "
            f"usable core{'s' if cpus != 1 else ''}, a parallel efficiency of {fmt_pct(lead.efficiency)} "
            f"({'meets' if lead.efficiency >= TARGET_EFFICIENCY else 'below'} the {TARGET_EFFICIENCY:.0%} target)"
            + (f", and {lead.vs_mp}" if lead.vs_mp else "") + ".")


def _work_bound_lines(work_bound: WorkBoundFacts) -> list[str]:
    """The lines that open a work-bound verdict: what efficiency means, then the tool's own choice of B."""
    cpus = work_bound.cpus
    lines = [f"{item.view.label} (B = {fmt_int(item.view.batch_size)}, chosen by the tool): "
             f"{fmt_speedup(item.speedup)} than sequential, parallel efficiency {fmt_pct(item.efficiency)}"
             + (f"; it {item.vs_mp}" if item.vs_mp else "") + "."
             for item in work_bound.runs[1:]]
    return [("Parallel efficiency is the speed-up over sequential Python divided by the cores that can run "
             f"in parallel: the cluster's Ray CPUs, capped by the host's physical cores ({fmt_int(cpus)} here; "
             "1 = linear scaling).")] + lines[::-1]


def _naive_line(naive: RunView, queries: int | None, items: str, item: str) -> str:
    rate = naive.stats.lookups_per_s
    line = (f"Naive Ray (one task per {item}) at {fmt_int(naive.tasks)} tasks: "
            f"{fmt_time(naive.response.median)}, {fmt_rate(rate.median if rate else None)} {items}/s")
    if queries and naive.queries != queries:
        line += (f"; it was not run at {fmt_int(queries)} tasks, so the comparison is per {item} "
                 f"(scaled linearly, {fmt_int(queries)} {items} would take ≈ {fmt_time(naive.per_lookup_s * queries)})")
    return line + "."


def _auto_line(auto: RunView, claim, item: str) -> str:
    line = (f"ray-auto (the tool picks B from a short probe of per-{item} work and per-task overhead) chose "
            f"B = {fmt_int(auto.batch_size)} " if auto.batch_size else "ray-auto ")
    line += f"and took {fmt_time(auto.response.median)}"
    if claim is not None:
        line += (f", {claim.value:.2f}× the time of the best swept size{fmt_interval(claim.ci, claim.unit)}"
                 + (f", from {claim.pairs} same-round pairs" if claim.pairs else f" ({claim.method})"))
    return line + "."


def _model_line(model: dict, items: str, claims: Facts | None) -> str:
    c = claims.get("per_task_overhead") if claims else None
    even = claims.get("break_even") if claims else None
    text = (f"A model fitted to the batch sweep ({fit_words(model)}) puts the overhead at "
            f"{fmt_time(model['per_task_overhead_s'])}{fmt_interval(c.ci, c.unit) if c else ''} of worker time per "
            f"task plus {fmt_time(model.get('fixed_cost_s'))} per run")
    if model.get("break_even_lookups_per_task"):
        text += (f"; a task needs about {fmt_int(round(model['break_even_lookups_per_task']))} {items}"
                 f"{fmt_interval(even.ci, even.unit) if even else ''} "
                 f"({fmt_time(model.get('break_even_work_per_task_s'))} of work) before Ray beats one Python loop")
    return text + "."


def _small_job_line(seq: RunView, cpus) -> str:
    return (f"Even the best batched run is slower than one Python loop here: the whole job is small "
            f"({fmt_time(seq.response.median)} of work in one process)"
            + (f" and {fmt_int(cpus)} CPUs can save at most {fmt_time(seq.response.median * (1 - 1 / cpus))} of it"
               if cpus and cpus > 1 else "")
            + ", less than Ray's fixed cost per run (object store put, scheduling, result transfer). "
            "Raise --queries or --array-size to see the regime where the work dominates.")


def _lines(facts: VerdictFacts) -> list[str]:
    seq, naive, batched = facts.seq, facts.naive_ref, facts.batched
    lines = []
    if batched:
        lines.append(f"Best batched run: {batched.label}, {fmt_int(batched.tasks)} tasks, answered "
                     f"{fmt_int(batched.queries)} {facts.items} in {fmt_time(batched.response.median)} (median).")
    if seq:
        lines.append(f"Sequential Python (the baseline): {fmt_time(seq.response.median)} for "
                     f"{fmt_int(seq.queries)} {facts.items}.")
    if naive:
        lines.append(_naive_line(naive, facts.queries, facts.items, facts.item))
    if facts.numpy:
        lines.append(f"For scale, vectorised numpy in one process (the work with no per-task overhead) took "
                     f"{fmt_time(facts.numpy.response.median)}.")
    if facts.auto:
        lines.append(_auto_line(facts.auto, facts.claims.get("auto_vs_best") if facts.claims else None, facts.item))
    if facts.model and facts.model.get("per_task_overhead_s") is not None:
        lines.append(_model_line(facts.model, facts.items, facts.claims))
    if batched and seq and batched.per_lookup_s > seq.per_lookup_s:
        lines.append(_small_job_line(seq, facts.cpus))
    if facts.work_bound:
        lines = _work_bound_lines(facts.work_bound) + lines
    return lines


def _lesson(facts: VerdictFacts) -> str | None:
    """Why batching wins: the work of one lookup against the cost of one task."""
    seq, naive, calibration = facts.seq, facts.naive_ref, facts.calibration
    if not (seq and (naive or calibration)):
        return None
    work = seq.per_lookup_s
    overhead, source = None, ""
    if naive and naive.stats.tasks_per_s:
        overhead = 1 / naive.stats.tasks_per_s.median
        source = f"naive Ray completed {fmt_rate(naive.stats.tasks_per_s.median)} tasks/s"
    elif calibration:
        overhead = 1 / calibration.median
        source = f"{fmt_rate(calibration.median)} no-op tasks/s"
    if not (overhead and work):
        return None
    return (f"Why: one {facts.item} is about {fmt_time(work)} of work, but the cluster gets through one task only "
            f"every {fmt_time(overhead)} of wall time ({source}; scheduling, messaging and the {facts.item} together): "
            f"≈ {fmt_ratio(overhead / work)} the work itself. "
            f"Batching many {facts.items} into one task pays the per-task cost once per batch.")


def verdict(views, results: Results) -> Verdict:
    """The headline in plain words, and the facts behind it."""
    facts = verdict_facts(views, results)
    headline = (_work_bound_headline(facts.work_bound) if facts.work_bound
                else _overhead_headline(facts, views))
    return Verdict(
        headline=headline, lines=tuple(_lines(facts)), lesson=_lesson(facts),
        excluded=tuple(f"{v.label}: {v.excluded}" for v in facts.excluded),
        work_bound=facts.work_bound, seq=facts.seq, naive_ref=facts.naive_ref, batched=facts.batched,
        claims=facts.claims,
    )
