"""`bench repro`'s verdicts: whether a re-run reproduced its original, row by row (bench.rerun
runs the original again; `bench repro A.json B.json` only compares).

The rule (one, stated everywhere it is shown): a row REPRODUCES when the median response
time of the new run over the original's lies within ±tolerance, i.e. 1 - t <= new/old <= 1 + t.
Otherwise it DIFFERS, and the command exits 1. The Mann-Whitney p and the bootstrap 95% CI
of the ratio (bench.compare) are printed beside each verdict as evidence, but do not gate it:
a noisy row whose median moved by 30% has not reproduced, whatever its p, and calling it
"reproduced" because its CI is wide would average away exactly what this command exists to
catch. Wrong answers in either file, and a row the new run lacks, also count as not reproduced;
a row only the new run has is listed and does not count.

Rows are paired by bench.compare.match_runs, plus the no-op task rate as seconds per task.

Tolerances per mode (TOLERANCES; issue 10's targets): ±10% for everything on an embedded Ray;
on a cluster joined by --address (the compose appliance), ±15% for ray-batched and ray-auto,
whose tasks cross nodes. `--tolerance T` sets one band for every row. The table used is printed
and recorded in the new results file (metadata.repro).
"""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import asdict, dataclass, replace
from typing import Mapping

from bench import compare
from bench import options as option_table
from bench import results as results_io
from bench.errors import BenchError, UsageError
from bench.format import fmt_time
from bench.results import Results, Run

DEFAULT_TOLERANCE = 0.10
# Tasks that cross nodes in the compose cluster are noisier (issue 10: ±15% there).
CLUSTER_TOLERANCES = {"ray-batched": 0.15, "ray-auto": 0.15}
CALIBRATION = "calibration"
CALIBRATION_NOOP_LABEL = "calibration: time per no-op task"
# A whole-run shift is named when the rows' median ratio is off by 5% or more and at least
# three quarters of them (of four or more) moved the same way.
SHIFT_MIN, SHIFT_AGREEMENT, SHIFT_MIN_ROWS = 0.05, 0.75, 4
TOLERANCE_MODES = ("sequential", "numpy", "multiprocessing", "ray-naive", "ray-batched", "ray-auto", CALIBRATION)
RULE = ("a row reproduces when new/original median response time is within ±tolerance; "
        "p (Mann-Whitney U) and the 95% bootstrap CI are shown, not used to decide")
# The recorded config's keys -> `bench run` options, and the keys that are outcomes the runner
# records, not options to set again: both from the one option table (bench.options).
RECORDED_NOT_OPTIONS = option_table.RECORDED_NOT_OPTIONS
OPTION_NAMES = option_table.OPTION_NAMES
ENVIRONMENT_KEYS = ("image", "image_id", "ray_version", "python_version", "numpy_version", "bench_version",
                    "git_commit", "cpu_model", "cpu_count")


class NotReproduced(BenchError):
    """Some row differs beyond its tolerance: exit 1."""

    exit_code = 1


def check_tolerance(tolerance) -> float | None:
    if tolerance is None:
        return None
    return option_table.fraction("tolerance", tolerance)


def _on_cluster(res: Results) -> bool:
    return res.cluster.get("mode") == "existing" or bool(res.config.get("address"))


def tolerance_table(a: Results, b: Results, tolerance: float | None = None) -> dict[str, float]:
    """The band per mode: one value for all when given, else issue 10's targets for where the files ran."""
    if tolerance is not None:
        return {mode: float(tolerance) for mode in TOLERANCE_MODES}
    table = {mode: DEFAULT_TOLERANCE for mode in TOLERANCE_MODES}
    if _on_cluster(a) or _on_cluster(b):
        table.update(CLUSTER_TOLERANCES)
    return table


@dataclass(frozen=True)
class ReproRow:
    label: str
    mode: str
    status: str  # reproduced | differs | wrong | missing | extra | no-samples
    verdict: str
    tolerance: float
    n_a: int = 0
    n_b: int = 0
    median_a: float | None = None
    median_b: float | None = None
    ratio: float | None = None  # new / original median (> 1: the new run is slower)
    p_value: float | None = None
    ci: tuple[float, float] | None = None
    machine: float | None = None  # the machine probe around this row's trials, new / original

    @property
    def counts(self) -> bool:
        """Rows the overall verdict is over (a row only the new run has is extra information)."""
        return self.status != "extra"

    @property
    def ok(self) -> bool:
        return self.status in ("reproduced", "extra")


@dataclass(frozen=True)
class Shift:
    """Whether the whole new run moved together (the machine, not one configuration): the
    geometric median of every compared row's new/original ratio, and who moved with it."""

    factor: float | None  # median ratio over the rows (> 1: the new run is slower throughout)
    rows: int
    slower: int
    beyond_shift: tuple[str, ...]  # labels that differ beyond tolerance even after the shift
    witnesses: tuple[tuple[str, float], ...]  # sequential Python (the CPU alone) and Ray's no-op task
    steal: tuple[float, float] | None = None  # the hypervisor's share of the host CPU: original, new

    @property
    def named(self) -> bool:
        """SHIFT_MIN_ROWS or more rows, the median off by SHIFT_MIN+, SHIFT_AGREEMENT of them one way."""
        if self.factor is None or self.rows < SHIFT_MIN_ROWS or abs(self.factor - 1.0) < SHIFT_MIN:
            return False
        same_way = self.slower if self.factor > 1 else self.rows - self.slower
        return same_way >= SHIFT_AGREEMENT * self.rows

    def line(self) -> str:
        if self.factor is None:
            return "whole-run shift: no rows to tell"
        said = [f"{label} {ratio:.2f}×" for label, ratio in self.witnesses]
        said += [f"CPU steal {self.steal[0]:.1%} → {self.steal[1]:.1%} of the host"] if self.steal else []
        witnesses = f" ({'; '.join(said)})" * bool(said)
        if not self.named:
            return (f"whole-run shift: none (median ratio {self.factor:.2f}× over {self.rows} rows, "
                    f"{self.slower} slower){witnesses}")
        way, moved = ("slower", self.slower) if self.factor > 1 else ("faster", self.rows - self.slower)
        beyond = (f"rows that differ even against the shift: {', '.join(self.beyond_shift)}" if self.beyond_shift
                  else "every row is within its tolerance of the shift")
        return (f"whole-run shift: the new run took {self.factor:.2f}× the original's time throughout "
                f"({moved} of {self.rows} rows {way}){witnesses}: the machine changed between the runs, "
                f"not one configuration; {beyond}")


def whole_run_shift(rows: list[ReproRow], steal: tuple[float, float] | None = None) -> Shift:
    measured = [row for row in rows if row.counts and row.ratio and row.ratio > 0]
    if not measured:
        return Shift(None, 0, 0, (), (), steal)
    factor = math.exp(statistics.median(math.log(row.ratio) for row in measured))
    beyond = tuple(row.label for row in measured if abs(row.ratio / factor - 1.0) > row.tolerance + 1e-12)
    witnesses = tuple((row.label, row.ratio) for row in measured
                      if row.mode == "sequential" or row.label == CALIBRATION_NOOP_LABEL)
    return Shift(factor, len(measured), sum(row.ratio > 1 for row in measured), beyond, witnesses, steal)


def host_steal(res: Results) -> float | None:
    """The hypervisor's share of the host CPU over the measured rounds (samplers.host_cpu_record)."""
    return (((res.cluster.get("host_cpu") or {}).get("measured_rounds")) or {}).get("steal_share")


def _probe_marks(res: Results) -> list:
    return (((res.cluster.get("host_cpu") or {}).get("probe") or {}).get("probe_s")) or []


def machine_speed(res: Results, run: Run) -> float | None:
    """The machine probe (samplers.machine_probe, seconds of a fixed CPU loop) around the rounds
    this run's trials ran in: the median over them of the marks before and after each round. A
    run with no rounds (a calibration block, before round 1) gets the first mark."""
    marks = _probe_marks(res)
    rounds = sorted(set(run.extra.get("trial_rounds") or ()))
    around = [(marks[k - 1] + marks[k]) / 2 for k in rounds if 0 < k < len(marks) and marks[k - 1] and marks[k]]
    if not rounds and marks and marks[0]:
        around = [marks[0]]
    return statistics.median(around) if around else None


# The machine explains a row's move when it moved the same way by at least this share of it
# (on the log scale) and the row is within tolerance with the machine divided out: a 1.03x
# machine does not explain a 1.12x row, even though 1.12 / 1.03 is within ±10%.
MACHINE_SHARE = 0.5


def machine_reading(row: "ReproRow") -> str:
    """How much of a differing row's move the machine probe around its trials accounts for."""
    share = math.log(row.machine) / math.log(row.ratio) if row.ratio != 1.0 else 0.0
    adjusted = row.ratio / row.machine
    if share >= MACHINE_SHARE and abs(adjusted - 1.0) <= row.tolerance + 1e-12:
        return "the machine explains it"
    if share > 1:  # the machine moved further than the row: Ray moved the other way
        return f"the machine moved more than the row: {adjusted:.2f}× with the machine divided out"
    if share > 0:
        return f"the machine explains part of it: {adjusted:.2f}× with the machine divided out"
    return "not the machine: it held or moved the other way"


def _ratio(new: float | None, old: float | None) -> float | None:
    return new / old if new and old else None


def _whole_run_probe(a: Results, b: Results) -> float | None:
    marks_a, marks_b = ([m for m in _probe_marks(res) if m] for res in (a, b))
    return _ratio(statistics.median(marks_b), statistics.median(marks_a)) if marks_a and marks_b else None


@dataclass(frozen=True)
class Reproduction:
    rows: tuple[ReproRow, ...]
    tolerances: Mapping[str, float]
    environment: tuple[str, ...] = ()  # what differs between the two files' machines and versions
    rule: str = RULE
    steal: tuple[float, float] | None = None  # host CPU steal over the measured rounds: original, new
    machine: float | None = None  # the machine probe over all of each run, new / original

    def machine_line(self) -> str | None:
        """Whether the machine's own speed explains each row that differs: the probe around that
        row's trials, new/original, and the row's ratio with it divided out. None for files
        from before the probe."""
        if self.machine is None:
            return None
        said = [f"{row.label} {row.ratio:.2f}× with the machine at {row.machine:.2f}× ({machine_reading(row)})"
                for row in self.failed if row.status == "differs" and row.ratio and row.machine]
        return (f"machine probe (a fixed CPU loop timed around every round, new/original): {self.machine:.2f}× "
                f"over the run" + (f"; during the rows that differ: {'; '.join(said)}" if said else ""))

    @property
    def shift(self) -> Shift:
        return whole_run_shift(list(self.rows), self.steal)

    @property
    def counted(self) -> list[ReproRow]:
        return [row for row in self.rows if row.counts]

    @property
    def failed(self) -> list[ReproRow]:
        return [row for row in self.rows if not row.ok]

    @property
    def reproduced(self) -> bool:
        return bool(self.counted) and not self.failed

    def summary(self) -> str:
        counted, failed = self.counted, self.failed
        used = sorted({row.tolerance for row in counted})
        band = f"±{used[0]:.0%}" if len(used) == 1 else "their tolerance"
        if not counted:
            return "NOT reproduced: no rows to compare"
        if not failed:
            return f"reproduced: {len(counted)} of {len(counted)} rows within {band}"
        named = ", ".join(f"{row.label} ({_short_reason(row)})" for row in failed)
        return f"NOT reproduced: {len(failed)} of {len(counted)} rows differ beyond {band}: {named}"

    def to_dict(self) -> dict:
        """What the new results file records (metadata.repro): recomputable from the two files."""
        return {
            "rule": self.rule,
            "tolerances": dict(self.tolerances),
            "reproduced": self.reproduced,
            "summary": self.summary(),
            "environment_differences": list(self.environment),
            "shift": {**asdict(self.shift), "witnesses": dict(self.shift.witnesses), "named": self.shift.named,
                      "line": self.shift.line()},
            "machine_probe": {"ratio": self.machine, "line": self.machine_line(),
                              "rows": {r.label: r.machine for r in self.rows if r.machine}},
            "rows": [{"label": r.label, "mode": r.mode, "status": r.status, "verdict": r.verdict,
                      "tolerance": r.tolerance, "ratio": r.ratio, "p_value": r.p_value,
                      "ci": list(r.ci) if r.ci else None} for r in self.rows],
        }


def _short_reason(row: ReproRow) -> str:
    if row.status == "differs" and row.ratio is not None:
        return f"{row.ratio:.2f}×"
    return row.status


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _judge(row: compare.Row, mode: str, tolerance: float, alpha: float) -> ReproRow:
    common = dict(label=row.label, mode=mode, tolerance=tolerance, n_a=row.n_a, n_b=row.n_b,
                  median_a=row.median_a, median_b=row.median_b, ratio=row.ratio, p_value=row.p_value, ci=row.ci)
    if not (row.correct_a and row.correct_b):
        which = " and ".join(x for x, ok in (("the original", row.correct_a), ("the new run", row.correct_b)) if not ok)
        return ReproRow(status="wrong", verdict=f"wrong answers in {which}", **common)
    if row.ratio is None:
        return ReproRow(status="no-samples", verdict="no samples to compare", **common)
    deviation = abs(row.ratio - 1.0)
    if deviation <= tolerance + 1e-12:
        return ReproRow(status="reproduced", verdict=f"reproduced within {max(1, math.ceil(deviation * 100 - 1e-9))}%",
                        **common)
    verdict = f"differs: {row.ratio:.2f}×, {_fmt_p(row.p_value)}"
    if not row.testable:
        verdict += f" ({row.n_a} vs {row.n_b} trials: too few for the rank test)"
    elif not row.significant:
        verdict += " (not significant: as large as the trials' noise)"
    return ReproRow(status="differs", verdict=verdict, **common)


def interleaved_calibration(res: Results) -> bool:
    """Whether the file's calibration figure comes from batches after the rounds (bench.calibration)."""
    return "before_rounds" in (res.cluster.get("calibration") or {})


def calibration_runs(res: Results, block: bool = False) -> list[Run]:
    """The calibration no-op rates as runs of seconds per task, so they pair and compare like any
    row; block=True takes the block before the rounds, to pair with a file that has only that."""
    runs = []
    calibration = res.cluster.get("calibration") or {}
    parts = ((CALIBRATION_NOOP_LABEL, calibration),
             ("calibration: time per no-op task with naive's arguments", calibration.get("with_naive_args") or {}))
    for label, part in parts:
        if block and part.get("before_rounds"):
            part = part["before_rounds"]
        rates = [float(r) for r in ((part.get("samples") or {}).get("tasks_per_s") or ()) if r]
        if rates:  # trial_rounds: the rounds its batches followed, for the machine probe around them
            runs.append(Run(mode=CALIBRATION, label=label, params={}, samples={"response_s": tuple(1.0 / r for r in rates)},
                            stats={}, correct=True, extra={"trial_rounds": tuple(part.get("trial_rounds") or ())}))
    return runs


def environment_differences(meta_a: Mapping, meta_b: Mapping, cluster_a: Mapping | None = None,
                            cluster_b: Mapping | None = None) -> list[str]:
    """'ray_version: 2.60.0 (original) vs 2.61.0 (now)' for each recorded fact that changed."""
    found = []
    for key in ENVIRONMENT_KEYS:
        va, vb = meta_a.get(key), meta_b.get(key)
        if va != vb and (va is not None or vb is not None):
            found.append(f"{key}: {va} (original) vs {vb} (now)")
    if cluster_a is not None and cluster_b is not None:
        for key, va, vb in (("cluster", cluster_a.get("mode"), cluster_b.get("mode")),
                            ("cluster_cpus", cluster_a.get("cluster_cpus"), cluster_b.get("cluster_cpus")),
                            ("cpu_nodes", _cpu_nodes(cluster_a), _cpu_nodes(cluster_b)),
                            ("lease_candidates", _lease_candidates(cluster_a), _lease_candidates(cluster_b))):
            if va != vb:
                found.append(f"{key}: {va} (original) vs {vb} (now)")
        jobs_a, jobs_b = cluster_a.get("earlier_jobs"), cluster_b.get("earlier_jobs")
        if jobs_a is not None and jobs_b is not None and jobs_a != jobs_b:  # bench.cluster.earlier_jobs
            found.append(f"driver jobs the cluster had run before: {jobs_a} (original) vs {jobs_b} (now)")
    return found


def _lease_candidates(cluster: Mapping) -> int | str:
    """How many nodes a lease no raylet could grant was drawn from (bench.placement)."""
    return (cluster.get("lease_placement") or {}).get("fewest_candidates") or "not recorded"


def _cpu_nodes(cluster: Mapping) -> int | None:
    nodes = cluster.get("nodes")
    if not nodes:
        return None
    return len([n for n in nodes if n.get("alive", True) and (n.get("cpus") or 0) > 0])


def reproduction_table(a: Results, b: Results, tolerance: float | None = None,
                       alpha: float = compare.ALPHA) -> Reproduction:
    """Verdict per row of b (the re-run) against a (the original). Pure: no Ray, no I/O."""
    diff = compare.workload_difference(a, b)
    if diff:
        raise UsageError(f"not the same workload, nothing to reproduce ({diff})")
    tolerances = tolerance_table(a, b, check_tolerance(tolerance))
    pairs, only_a, only_b = compare.match_runs(a, b)
    block = not (interleaved_calibration(a) and interleaved_calibration(b))  # like with like
    cal_a, cal_b = calibration_runs(a, block), calibration_runs(b, block)
    cal_b_by_label = {run.label: run for run in cal_b}
    pairs += [(run, cal_b_by_label.pop(run.label)) for run in cal_a if run.label in cal_b_by_label]
    only_a += [run for run in cal_a if run.label not in {p[0].label for p in pairs}]
    only_b += list(cal_b_by_label.values())
    rows = [replace(_judge(compare.compare_pair(ra, rb, alpha), ra.mode, tolerances.get(ra.mode, DEFAULT_TOLERANCE),
                           alpha), machine=_ratio(machine_speed(b, rb), machine_speed(a, ra)))
            for ra, rb in pairs]
    rows += [ReproRow(run.label, run.mode, "missing", "missing from the new run",
                      tolerances.get(run.mode, DEFAULT_TOLERANCE)) for run in only_a]
    rows += [ReproRow(run.label, run.mode, "extra", "only in the new run (not compared)",
                      tolerances.get(run.mode, DEFAULT_TOLERANCE)) for run in only_b]
    env = environment_differences(a.metadata, b.metadata, a.cluster, b.cluster)
    steal = (host_steal(a), host_steal(b))
    return Reproduction(tuple(rows), tolerances, tuple(env), steal=steal if None not in steal else None,
                        machine=_whole_run_probe(a, b))


# --- text ---------------------------------------------------------------------------------


def format_table(rep: Reproduction) -> list[str]:
    header = ("run", "original", "new", "new/orig", "tolerance", "p (MWU)", "95% CI", "verdict")
    body = []
    for row in rep.rows:
        body.append((
            row.label,
            fmt_time(row.median_a, missing="-"),
            fmt_time(row.median_b, missing="-"),
            "-" if row.ratio is None else f"{row.ratio:.3f}×",
            f"±{row.tolerance:.0%}",
            "-" if row.p_value is None else f"{row.p_value:.3g}",
            "-" if row.ci is None else f"[{row.ci[0]:.3f}, {row.ci[1]:.3f}]",
            row.verdict,
        ))
    return compare.align_table(header, body)


def tolerance_line(tolerances: Mapping[str, float]) -> str:
    groups: dict[float, list[str]] = {}
    for mode, tol in tolerances.items():
        groups.setdefault(tol, []).append(mode)
    return "tolerance: " + "; ".join(f"±{tol:.0%} {', '.join(modes)}" for tol, modes in sorted(groups.items()))


def print_reproduction(rep: Reproduction, path_a: str, path_b: str, a: Results, b: Results, out=None) -> None:
    out = out or sys.stdout
    print(f"original: {compare._describe(a, path_a)}", file=out)
    print(f"new:      {compare._describe(b, path_b)}", file=out)
    for line in rep.environment:
        print(f"environment differs: {line}", file=out)
    print(f"rule: {rep.rule}", file=out)
    print(tolerance_line(rep.tolerances), file=out)
    print(file=out)
    for line in format_table(rep):
        print(line, file=out)
    print(file=out)
    print(rep.summary(), file=out)
    print(rep.shift.line(), file=out)
    machine = rep.machine_line()
    if machine:
        print(machine, file=out)


def _raise_unless_reproduced(rep: Reproduction) -> None:
    if not rep.reproduced:
        failed = rep.failed
        named = ", ".join(row.label for row in failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
        raise NotReproduced(f"not reproduced: {len(failed)} of {len(rep.counted)} row(s) differ "
                            f"({named or 'no rows to compare'})")


def repro_files(path_a: str, path_b: str, tolerance=None, out=None) -> Reproduction:
    """`bench repro A.json B.json`: compare only, nothing is run."""
    tolerance = check_tolerance(tolerance)
    a, b = results_io.load(str(path_a)), results_io.load(str(path_b))
    rep = reproduction_table(a, b, tolerance)
    print_reproduction(rep, str(path_a), str(path_b), a, b, out)
    _raise_unless_reproduced(rep)
    return rep
