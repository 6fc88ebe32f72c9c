"""The words for facts and warnings (bench.analysis.facts): one place, for every reader that shows them."""

from __future__ import annotations

from bench.analysis.conditions import PlacementCost, Warning_
from bench.analysis.facts import Fact
from bench.format import fmt_int, fmt_pct, fmt_time

# What each claim says, in a phrase (the value follows it).
CLAIM_NAMES = {
    "best_b_region": "best batch size",
    "batched_vs_naive": "best batched vs naive Ray (time per {item}, naive/batched)",
    "batched_vs_sequential": "best batched vs sequential Python (sequential/batched)",
    "batched_vs_multiprocessing": "best batched vs multiprocessing (multiprocessing/batched)",
    "batched_vs_numpy": "best batched vs numpy (numpy/batched)",
    "auto_vs_best": "ray-auto ÷ best B (time)",
    "per_task_overhead": "model c: overhead per task",
    "per_item_work": "model w: work per {item}",
    "break_even": "break-even: {items} per task before Ray beats one loop",
    "naive_fidelity": "naive task ÷ no-op task (time; 1 = the harness adds nothing)",
    "parallel_efficiency": "parallel efficiency (speed-up ÷ usable cores)",
}


def claim_name(key: str, items: str = "lookups") -> str:
    item = items[:-1] if items.endswith("s") else items
    return CLAIM_NAMES.get(key, key).format(items=items, item=item)


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "x":
        return f"{value:,.0f}×" if value >= 100 else f"{value:.2f}×"
    if unit == "s":
        return fmt_time(value)
    if unit == "share":
        return fmt_pct(value)
    if unit == "B":
        return f"B = {fmt_int(value)}"
    return fmt_int(round(value))


def fmt_interval(ci, unit: str) -> str:
    if not ci:
        return ""
    return f" (95% CI {fmt_value(ci[0], unit)}–{fmt_value(ci[1], unit)})"


def fact_text(fact: Fact) -> str:
    """'1.30× (95% CI 1.16×–1.45×, 11 rounds)'; the region lists its members."""
    if fact.unit == "B":
        members = ", ".join(fmt_int(b) for b in fact.members)
        return f"B = {fmt_int(fact.value)}; within {fact.tolerance:.0%} of it in the same rounds: {members}"
    text = fmt_value(fact.value, fact.unit)
    if fact.ci:
        text += f" (95% CI {fmt_value(fact.ci[0], fact.unit)}–{fmt_value(fact.ci[1], fact.unit)}, "
    else:
        text += " ("
    text += (f"{fact.pairs} same-round pair{'s' if fact.pairs != 1 else ''})" if fact.method == "same-round pairs"
             else f"{fact.method})" if fact.pairs == 0 or "bootstrap" not in fact.method
             else f"{fact.pairs} rounds resampled)")
    return text


def _times(x: float) -> str:
    return f"{x:,.0f}×" if x >= 100 else f"{x:.2f}×"


def speed_words(ratio: float, ci=None) -> str:
    """'1.30× faster' / '1.26× slower' for a time ratio other/this, with its interval the same way up."""
    if ratio >= 1:
        words, lo_hi = f"{_times(ratio)} faster", ci
    else:
        words, lo_hi = f"{_times(1 / ratio)} slower", (1 / ci[1], 1 / ci[0]) if ci else None
    return words + (f" (95% CI {_times(lo_hi[0])}–{_times(lo_hi[1])})" if lo_hi else "")


_RUN_KINDS = {
    "run-unstable": "response time CV above 10% (rerun on a quieter machine, or add --trials)",
    "run-too-short": "trials under 1 ms: timer noise dominates (raise --queries)",
    "run-outliers": "outlier trials, kept in the median and named in the results",
}


def run_warning_text(warning, outliers=()) -> str:
    """One run's recorded warning (bench.engine.record: a kind and its figures) in words; files from
    before figures were recorded carry their own message."""
    kind = warning.get("kind")
    if kind == "unstable" and warning.get("cv") is not None:
        return (f"response time CV is {warning['cv']:.1%} (> {warning.get('limit', 0.1):.0%}): "
                f"rerun on a quieter machine or add --trials")
    if kind == "too-short" and warning.get("shortest_s") is not None:
        return "a trial took under 1 ms: timer resolution and noise dominate; raise --queries"
    if kind == "outliers" and outliers:
        named = ", ".join(f"#{o['trial'] + 1} ({o['response_s']:.3g} s, {o['vs_median']:.2f}x the median)"
                          for o in outliers)
        return f"outlier trial(s) {named}: kept in the median, named here"
    return str(warning.get("message") or kind)


PLACEMENT_WORDS = {"affinity": "each Ray task to the next CPU node in turn (--placement affinity)",
                   "default": "Ray's default scheduler (--placement default)"}


def placement_text(p: PlacementCost) -> str:
    """Where the Ray rows' tasks went, and what Ray's default placement costs per task against
    node affinity, from the no-op tasks of the same rounds."""
    other = "default" if p.placement == "affinity" else "affinity"
    interval = f", 95% CI {p.ci[0]:.2f}–{p.ci[1]:.2f}×" if p.ci else ""
    other_words = "Ray's default" if other == "default" else "affinity"
    compared = f"{p.rate:,.0f} no-op tasks/s; under {other_words} in the same rounds {p.other_rate:,.0f}/s"
    more = "more" if p.extra_s > 0 else "less"
    figures = f"{fmt_time(abs(p.extra_s))} {more} per task ({p.default_over_affinity:.2f}×{interval}, {p.pairs} rounds)"
    if not p.measurable:
        cost = f"no measurable difference per task ({p.default_over_affinity:.2f}×{interval}, {p.pairs} rounds)"
    elif p.extra_s > 0 and p.driver_node_cpus == 0:
        cost = (f"Ray's default costs {figures}: the spillback hop of a driver on a node without CPUs "
                f"(Ray's advice for a large cluster's head), paid in the lease")
    elif p.extra_s > 0 and p.driver_node_cpus:
        cost = f"Ray's default took {figures}; the driver's node has CPUs, so no spillback hop is in it"
    else:
        cost = f"Ray's default took {figures}"
    anatomy = "" if p.grown_phase is None else (
        f"; the task anatomy (B = {p.grown_batch:,}, run both ways) grows most in {p.grown_phase.replace('_', ' ')} "
        f"under Ray's default, {'+' if p.grown_s >= 0 else '-'}{fmt_time(abs(p.grown_s))} per task")
    return f"placement: {PLACEMENT_WORDS.get(p.placement, p.placement)}: {compared}; {cost}{anatomy}"


def lease_single_node_text(f) -> str:
    return (f"Ray on this cluster sends every lease it cannot place at once to a single node "
            f"({f['setting']} = {f['value']:g} of {f['nodes']} nodes): a worker can idle for much of a trial and "
            f"task-rate rows can swing 2x between runs; set {f['setting']}={f['advised']:g} on every node "
            f"(the appliance does)")


def warning_line(w: Warning_) -> str:
    f = w.figures
    if w.kind.startswith("run-"):
        return f"warning: {_RUN_KINDS.get(w.kind, w.kind[4:])}: {', '.join(f['runs'])}"
    if w.kind == "calibration-stopped":
        kept = ("the batches after the rounds before it failed" if f.get("kept_after_rounds")
                else "the block before the rounds")
        return f"warning: the calibration's batches after the rounds stopped ({f['error']}); its figure is {kept}"
    if w.kind == "lease-single-node" and "message" not in f:
        return f"warning: {lease_single_node_text(f)}"
    if w.kind in ("system-check", "lease-single-node"):
        return f"warning: {f['message']}"
    if w.kind == "idle-load":
        return f"idle load before the trials: {f['busy_cores']:.2f} cores busy on the host"
    if w.kind == "quiet-wait":
        line = (f"quiet before each trial: waited {fmt_time(f['total_s'])} in all (longest {fmt_time(f['longest_s'])}) "
                f"for the host's Ray bookkeeping to finish")
        if f.get("started_busy"):
            line += f"; {f['started_busy']} of {f['trials']} trials started with the host still busy"
        return line
    if w.kind == "steal":
        return (f"warning: the hypervisor took {fmt_pct(f['share'])} of the host's CPU during the rounds (steal): "
                f"figures are slower than this machine's own, and will not reproduce")
    return f"warning: {w.kind}: {dict(f)}"


def fault_cost_line(label: str, cost: dict) -> str:
    """One line for a measured fault cost (bench.engine.faultcost), in the terminal and on the page."""
    if cost["trial"] is None:
        return f"fault cost, {label}: not measured: the fault landed {cost['landed']}"
    head = f"fault cost, {label}, trial #{cost['trial'] + 1}: "
    slow = f"slowdown {cost['slowdown']:.2f}x" if cost.get("slowdown") else "slowdown unknown"
    if not cost["task_events"]["available"]:
        return head + f"{slow}; re-executed work and recovery unavailable: {cost['task_events']['reason']}"
    recovery = f"{cost['recovery_s']:.2f} s" if cost.get("recovery_s") is not None else "none (no retry finished)"
    return (head + f"{cost['lookups_re_executed']:,} lookups re-executed ({cost['tasks_retried']} task(s) retried), "
            f"recovery {recovery}, {slow}")
