"""The terminal renderers: the per-run table and the verdict, as hyperfine prints its summary.

The verdict is worded here from the facts (bench.analysis.facts); it is written to reports/summary.txt
beside the HTML report, so the answer never lives only in a page. No prose is stored in the results.
"""

from __future__ import annotations

from bench.analysis.facts import TARGET_EFFICIENCY, Fact, Facts, compute as compute_facts
from bench.analysis.wording import fmt_interval, placement_text, speed_words, warning_line
from bench.format import fmt_int, fmt_pct, fmt_rate, fmt_time
from bench.results import Results, item_words, Run


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
    return lines


def print_summary(res: Results, path, out=None) -> None:
    """What `bench run` prints at the end: the per-run table, the verdict, where the file is."""
    for line in table_lines(res) + [""] + verdict_lines(res):
        print(line, file=out)
    print(f"results: {path}", file=out)


def _interval(fact: Fact) -> str:
    return fmt_interval(fact.ci, fact.unit)


def claim_lines(facts: Facts, res: Results) -> list[str]:
    """The claims (bench.analysis.facts), each with its 95% interval from same-round pairs."""
    items = facts.items
    item = items[:-1] if items.endswith("s") else items
    runs = {run.label: run for run in res.runs}
    lines: list[str] = []
    region = facts.get("best_b_region")
    if region is None:
        return ["verdict: no correct batched Ray run to judge"]
    best = runs[facts.best_label]
    suite = f" ({facts.suite} suite)" if facts.suite else ""
    lines.append(f"verdict{suite}: best batched Ray is B = {fmt_int(region.value)} ({fmt_time(_median(best))}, "
                 f"{fmt_int(best.params.get('tasks'))} tasks); within {region.tolerance:.0%} of it in the same rounds: "
                 f"B = {', '.join(fmt_int(b) for b in region.members)}")
    for key, name in (("batched_vs_naive", None), ("batched_vs_sequential", "sequential Python"),
                      ("batched_vs_multiprocessing", None), ("batched_vs_numpy", "numpy (no overhead)")):
        fact = facts.get(key)
        if fact is None:
            continue
        other = runs.get(fact.runs[0])
        if key == "batched_vs_naive":
            name = f"naive Ray (one task per {item}; {fmt_int(other.params.get('tasks'))} tasks took {fmt_time(_median(other))})"
        lines.append(f"  {speed_words(fact.value, fact.ci)} than {name or fact.runs[0]}, "
                     f"{fact.pairs} same-round pair{'s' if fact.pairs != 1 else ''}")
    c, w, even = facts.get("per_task_overhead"), facts.get("per_item_work"), facts.get("break_even")
    model = (res.analysis or {}).get("model") or {}
    if c and w:
        text = f"model: c = {fmt_time(c.value)} per task{_interval(c)}, w = {fmt_time(w.value)} per {item}{_interval(w)}"
        if even:
            text += (f"; Ray beats one Python loop above ~{fmt_int(round(even.value))} {items}{_interval(even)} "
                     f"({fmt_time(even.detail.get('work_s'))} of work) per task")
        if model.get("rms_relative_error") is not None:
            text += (f"; fit: RMS error {fmt_pct(model['rms_relative_error'])}, worst "
                     f"{model['max_relative_residual']:+.0%} at B = {fmt_int(model.get('worst_point_batch_size'))}"
                     + (" (a misfit)" if model.get("misfit") else ""))
        lines.append(text)
    auto = facts.get("auto_vs_best")
    if auto:
        auto_run = next((r for r in res.runs if r.label == auto.runs[0]), None)
        chose = f"chose B = {fmt_int(auto_run.params.get('batch_size'))}, " if auto_run is not None else ""
        lines.append(f"ray-auto: {chose}{auto.value:.2f}× the time of the best swept B = {fmt_int(region.value)}"
                     f"{_interval(auto)}, {auto.pairs} same-round pairs")
    fidelity = facts.get("naive_fidelity")
    if fidelity:
        lines.append(f"fidelity: a naive task ({fidelity.runs[0]}) takes {fidelity.value:.2f}× a no-op task's time"
                     f"{_interval(fidelity)}: what the {item} and the harness add to Ray's own cost")
    efficiency = facts.get("parallel_efficiency")
    if efficiency:
        d = efficiency.detail
        cores = (f"{fmt_int(d['physical_cores'])} physical cores" if d.get("physical_recorded")
                 else f"{fmt_int(d['physical_cores'])} cores (logical: this file does not record physical ones)")
        lines.append(f"parallel efficiency: {fmt_pct(efficiency.value)}{_interval(efficiency)}: a "
                     f"{d['speedup']:.2f}× speed-up over sequential on {fmt_int(d['usable_cpus'])} usable CPUs "
                     f"({fmt_int(d['ray_cpus'])} Ray CPUs, {cores}); "
                     f"{'meets' if efficiency.value >= TARGET_EFFICIENCY else 'below'} the {TARGET_EFFICIENCY:.0%} target")
    return lines


def verdict_lines(res: Results, report_path: str | None = None) -> list[str]:
    """The claims (bench.analysis.facts) in words, then the warnings."""
    facts = compute_facts(res)
    lines = claim_lines(facts, res) + ([placement_text(facts.placement)] if facts.placement else [])
    lines += [warning_line(w) for w in facts.warnings]
    if report_path:
        lines.append(f"report: {report_path}")
    return lines
