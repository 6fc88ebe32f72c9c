"""Several results files: side by side (bench.analysis.compare), re-runs (bench.analysis.repro) and scaling (bench.analysis.model),
grouped by workload."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from bench.analysis import compare, repro
from bench.analysis.model import scaling
from bench.analysis.wording import claim_name, fmt_interval, fmt_value
from bench.errors import UsageError
from bench.format import fmt_int, fmt_pct, fmt_ratio, fmt_speedup, fmt_time
from bench.report import charts_cluster
from bench.report.repro_text import machine_lines
from bench.report.verdict import TARGET_EFFICIENCY
from bench.report.view import SectionView, Summary, workload_title
from bench.results import Results, Run

SCALING_MODES = ("ray-batched", "ray-auto", "ray-naive", "multiprocessing")


@dataclass(frozen=True)
class CompareCell:
    present: bool
    correct: bool | None
    median: float | None
    text: str
    ratio: float | None  # this file's median over the first file's
    p: float | None  # Mann-Whitney U against the first file's run
    run_label: str | None


@dataclass(frozen=True)
class CompareRow:
    label: str
    cells: tuple[CompareCell, ...]


@dataclass(frozen=True)
class ReproRow:
    label: str
    status: str
    verdict: str
    ok: bool
    original: str
    new: str
    ratio: str
    tolerance: str
    p: str
    ci: str


@dataclass(frozen=True)
class Reproduction:
    original: str
    new: str
    reproduced: bool
    summary: str
    rows: tuple[ReproRow, ...]
    rule: str
    tolerances: str
    environment: tuple[str, ...]
    command: str
    shift: str = ""  # bench.analysis.repro's whole-run shift line
    claims: tuple["ClaimRow", ...] = ()  # judged first (bench.analysis.claims)
    machines: tuple[str, ...] = ()  # across machines: what differs and the factors


@dataclass(frozen=True)
class ClaimRow:
    name: str
    status: str  # holds | differs | can't tell
    original: str
    new: str
    ratio: str
    tolerance: str


@dataclass(frozen=True)
class ScalingRow:
    mode: str
    label: str | None
    cpus: int | None
    nodes: int | None
    file: str
    median_s: float | None
    speedup_v: float | None
    efficiency_v: float | None
    median: str
    speedup: str
    ideal: str
    efficiency: str
    low: bool
    vs_sequential: str


@dataclass(frozen=True)
class Scaling:
    rows: tuple[ScalingRow, ...] = ()
    chart: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    """Files of one workload: the comparison table, the re-runs among them and the scaling."""
    title: str
    anchor: str
    names: tuple[str, ...]
    sections: tuple[SectionView, ...]
    table: tuple[CompareRow, ...]
    workloads_differ: tuple[str, ...]
    chart: str | None
    scaling: tuple[ScalingRow, ...]
    scaling_chart: str | None
    scaling_notes: tuple[str, ...]
    reproduction: tuple[Reproduction, ...]


@dataclass(frozen=True)
class SingleFile:
    title: str
    name: str
    anchor: str


@dataclass(frozen=True)
class Comparison:
    groups: tuple[Group, ...]
    single: tuple[SingleFile, ...]
    alpha: float


def workload_key(results: Results) -> tuple:
    return compare.workload_identity(results.workload)


def build_comparison(sections: list[SectionView]) -> Comparison | None:
    """Files side by side, grouped by workload; each group with several cluster sizes gets a scaling analysis."""
    if len(sections) < 2:
        return None
    buckets: dict[tuple, list[SectionView]] = {}
    for section in sections:
        buckets.setdefault(workload_key(section.results), []).append(section)
    groups, single = [], []
    for index, members in enumerate(buckets.values()):
        results = members[0].results
        title = workload_title(results.workload, results.suite)
        if len(members) < 2:
            single.append(SingleFile(title, members[0].name, members[0].anchor))
            continue
        table, chart = _compare_table(members)
        found = scaling_group(members, title, f"g{index}")
        groups.append(Group(
            title=title, anchor=f"g{index}", names=tuple(m.name for m in members), sections=tuple(members),
            table=table, chart=chart, workloads_differ=_workloads_differ(members),
            scaling=found.rows, scaling_chart=found.chart, scaling_notes=found.notes,
            reproduction=tuple(reproduction_group(members)),
        ))
    if not groups:  # every file is a different workload (standard + heavy): sections of one story
        return None
    return Comparison(tuple(groups), tuple(single), compare.ALPHA)


# --- the side-by-side table ------------------------------------------------------------------


def _row_label(run: Run) -> str:
    if run.mode == "ray-batched" and run.params.get("per_cpu"):
        return "ray-batched, 1 task per CPU"
    return run.label if run.mode != "multiprocessing" else "multiprocessing"


def _aligned_runs(sections: list[SectionView]) -> list[list[Run | None]]:
    """One row per experiment, the run of each file in it (bench.analysis.compare's pairing against the first file);
    experiments the first file lacks follow, one row per compare.run_key."""
    base = sections[0].results
    rows: list[list[Run | None]] = []
    by_base: dict[int, list] = {}
    by_key: dict[tuple, list] = {}
    for run in base.runs:
        if compare.run_key(run) not in by_key:
            row = [run] + [None] * (len(sections) - 1)
            by_key[compare.run_key(run)] = by_base[id(run)] = row
            rows.append(row)
    for f, section in enumerate(sections[1:], start=1):
        pairs, _, only_other = compare.match_runs(base, section.results)
        for base_run, run in pairs:
            row = by_base.get(id(base_run))
            if row is not None and row[f] is None:
                row[f] = run
        for run in only_other:
            row = by_key.get(("only in later files",) + compare.run_key(run))
            if row is None:
                row = [None] * len(sections)
                by_key[("only in later files",) + compare.run_key(run)] = row
                rows.append(row)
            if row[f] is None:
                row[f] = run
    return rows


def _cell(run: Run | None, base_run: Run | None, base_median: float | None, later: bool) -> CompareCell:
    summary = Summary.of(run, "response_s") if run else None
    median = summary.median if summary and run.correct else None
    p_value = None
    if later and run is not None and base_run is not None and run.correct and base_run.correct:
        p_value = compare.mann_whitney_p(compare.response_samples(base_run), compare.response_samples(run))
    return CompareCell(
        present=run is not None, correct=run.correct if run else None, median=median,
        text=fmt_time(summary.median) if summary else "–",
        ratio=(median / base_median) if later and median and base_median else None,
        p=p_value, run_label=run.label if run else None,
    )


def _compare_table(sections: list[SectionView]) -> tuple[tuple[CompareRow, ...], str | None]:
    table = []
    medians: list[list[float | None]] = [[] for _ in sections]
    for runs in _aligned_runs(sections):
        base_run = runs[0]
        base_cell = _cell(base_run, None, None, later=False)
        cells = [base_cell] + [_cell(run, base_run, base_cell.median, later=True) for run in runs[1:]]
        for f, cell in enumerate(cells):
            medians[f].append(cell.median)
        table.append(CompareRow(_row_label(next(r for r in runs if r is not None)), tuple(cells)))
    chart = charts_cluster.side_by_side([row.label for row in table], [s.name for s in sections], medians)
    return tuple(table), chart


def _workloads_differ(sections: list[SectionView]) -> tuple[str, ...]:
    base = sections[0].results
    return tuple(f"{section.name}: {compare.workload_difference(base, section.results)}"
                 for section in sections[1:] if compare.workload_difference(base, section.results))


# --- re-runs -----------------------------------------------------------------------------------


def _injected_faults(section: SectionView) -> bool:
    return any(run.extra.get("faults") for run in section.results.runs)


def _claim_row(c, items: str) -> ClaimRow:
    if c.unit == "B":
        original, new = (", ".join(fmt_int(b) for b in m) for m in (c.original_members, c.new_members))
        return ClaimRow(claim_name(c.key, items), c.status, f"B = {original}", f"B = {new}", "–",
                        f"within {c.tolerance:.0%}")
    return ClaimRow(claim_name(c.key, items), c.status, fmt_value(c.original, c.unit) + fmt_interval(c.original_ci, c.unit),
                    fmt_value(c.new, c.unit) + fmt_interval(c.new_ci, c.unit),
                    "–" if c.ratio is None else f"{c.ratio:.3f}×", f"±{c.tolerance:.0%}")


def reproduction_group(sections: list[SectionView]) -> list[Reproduction]:
    """bench.analysis.repro's verdicts for each file against the first earlier file of the same workload on
    the same number of CPUs (a re-run; other sizes are a scaling comparison, not a reproduction)."""
    found = []
    clean = [s for s in sections if not _injected_faults(s)]  # a chaos run re-runs nothing
    for i, later in enumerate(clean):
        cpus = later.results.cluster.get("cluster_cpus")
        earlier = next((s for s in clean[:i] if s.results.cluster.get("cluster_cpus") == cpus), None)
        if earlier is None:
            continue
        try:
            rep = repro.reproduction_table(earlier.results, later.results)
        except UsageError:  # not the same workload after all
            continue
        rows = tuple(ReproRow(
            label=row.label, status=row.status, verdict=row.verdict, ok=row.ok,
            original=fmt_time(row.median_a), new=fmt_time(row.median_b),
            ratio=fmt_ratio(row.ratio), tolerance=f"±{row.tolerance:.0%}",
            p="–" if row.p_value is None else f"{row.p_value:.3g}",
            ci="–" if row.ci is None else f"{row.ci[0]:.3f}–{row.ci[1]:.3f}",
        ) for row in rep.rows)
        found.append(Reproduction(
            original=earlier.name, new=later.name, reproduced=rep.reproduced, summary=rep.summary(), rows=rows,
            rule=rep.rule, tolerances=repro.tolerance_line(rep.tolerances).removeprefix("tolerance: "),
            environment=tuple(rep.environment), shift=" ".join(filter(None, (rep.shift.line(), rep.machine_line()))),
            command=shlex.join(["python", "-m", "bench", "repro", earlier.path, later.path]),
            claims=tuple(_claim_row(c, rep.items) for c in rep.claims), machines=tuple(machine_lines(rep)),
        ))
    return found


# --- scaling ------------------------------------------------------------------------------------


def _one_file_per_size(sections: list[SectionView], notes: list[str]) -> dict:
    """cluster CPUs -> the file that stands for them: the latest complete one; the others are named in notes."""
    by_cpus: dict = {}
    for section in sections:
        cpus = section.results.cluster.get("cluster_cpus")
        if not cpus:
            notes.append(f"{section.name} does not record its cluster's CPUs and is left out.")
            continue
        by_cpus.setdefault(cpus, []).append(section)
    chosen = {}
    for cpus, members in by_cpus.items():
        ranked = sorted(members, key=lambda s: (s.results.status == "complete",
                                                str(s.results.metadata.get("started_utc") or "")))
        chosen[cpus] = ranked[-1]
        if len(members) > 1:
            notes.append(f"{len(members)} files at {fmt_int(cpus)} CPUs ({', '.join(m.name for m in members)}): "
                         f"{ranked[-1].name} is used.")
    return chosen


def _file_notes(chosen: dict) -> list[str]:
    notes = []
    for cpus, section in chosen.items():
        if section.results.status != "complete":
            notes.append(f"{section.name} ({fmt_int(cpus)} CPUs) is incomplete: modes it did not finish are missing.")
        if any(v.faults and (v.faults.lost or v.faults.fewer_nodes) for v in section.views):
            notes.append(f"{section.name} ({fmt_int(cpus)} CPUs) lost a node during a run: its times are not a "
                         f"clean {fmt_int(cpus)}-CPU point.")
    return notes


def _scaling_row(mode: str, point: dict, file_by_cpus: dict) -> ScalingRow:
    return ScalingRow(
        mode=mode, label=point.get("label"), cpus=point.get("cpus"), nodes=point.get("nodes"),
        file=file_by_cpus.get(point.get("cpus"), "–"),
        median_s=point.get("median_s"), speedup_v=point.get("speedup"), efficiency_v=point.get("efficiency"),
        median=fmt_time(point.get("median_s")),
        speedup=fmt_ratio(point.get("speedup")), ideal=fmt_ratio(point.get("ideal")),
        efficiency=fmt_pct(point.get("efficiency")),
        low=point.get("efficiency") is not None and point["efficiency"] < TARGET_EFFICIENCY,
        vs_sequential=fmt_speedup(point.get("vs_sequential")),
    )


def _fixed_pool_note(ordered: list[SectionView], table: dict) -> str | None:
    """multiprocessing's pool follows the driver, not the cluster: not a scaling measurement."""
    procs = {s.results.cluster.get("cluster_cpus"): next((r.params.get("processes") for r in s.results.runs
                                                         if r.mode == "multiprocessing"), None) for s in ordered}
    if len({p for p in procs.values() if p}) == 1 and len(procs) > 1 and "multiprocessing" in table:
        return (f"multiprocessing used {fmt_int(next(p for p in procs.values() if p))} processes in every file (the "
                "driver's CPUs), whatever the cluster's size: its row is not a scaling measurement and is not drawn.")
    return None


def _limit_notes(table: dict) -> list[str]:
    notes = []
    for mode, points in table.items():
        first = points[0] if points else None
        if first and first.get("vs_sequential") and first["cpus"] and first["vs_sequential"] > 1.1 * first["cpus"]:
            plural = "s" if first["cpus"] != 1 else ""
            notes.append(f"At {fmt_int(first['cpus'])} CPU{plural} {mode} is already "
                         f"{fmt_speedup(first['vs_sequential'])} than sequential, more than {fmt_int(first['cpus'])} CPU"
                         f"{plural} allow: that cluster's CPU count is a scheduling limit "
                         f"(e.g. embedded --num-cpus on a bigger host), not a hard one, so speed-up against it understates "
                         f"scaling. Read “vs sequential” as well.")
    short = [m for m, pts in table.items() if len(pts) < 2]
    if short:
        notes.append("Only one cluster size has a correct run of " + ", ".join(short) + ": no speed-up to draw.")
    return notes


def scaling_group(sections: list[SectionView], title: str = "", key: str = "scaling") -> Scaling:
    """bench.analysis.model.scaling over one workload's files: rows for the table and the speed-up/efficiency chart.

    Needs at least two distinct cluster CPU counts. When several files share a CPU count, the
    latest complete one stands for it (the others are named in a note).
    """
    notes: list[str] = []
    chosen = _one_file_per_size(sections, notes)
    if len(chosen) < 2:
        return Scaling()
    notes += _file_notes(chosen)
    ordered = [chosen[c] for c in sorted(chosen)]
    try:
        table = scaling([s.results for s in ordered], modes=SCALING_MODES) or {}
    except Exception as exc:  # derived figures: never let them break the page
        return Scaling(notes=tuple(notes + [f"scaling analysis failed: {exc}"]))
    names = {id(s.results): s.name for s in ordered}
    file_by_cpus = {int(c): names[id(chosen[c].results)] for c in chosen}
    rows = tuple(_scaling_row(mode, point, file_by_cpus) for mode, points in table.items() for point in points)
    fixed_pool = _fixed_pool_note(ordered, table)
    if fixed_pool:
        notes.append(fixed_pool)
        table = {m: pts for m, pts in table.items() if m != "multiprocessing"}
    notes += _limit_notes(table)
    series = [{"mode": mode, "points": [{"cpus": p["cpus"], "speedup": p["speedup"], "efficiency": p["efficiency"]}
                                        for p in points]}
              for mode, points in table.items() if len(points) >= 2]
    chart = (charts_cluster.scaling(series, sorted(int(c) for c in chosen), title=title, name=f"scaling-{key}")
             if series else None)
    return Scaling(rows, chart, tuple(notes))
