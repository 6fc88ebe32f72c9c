"""`bench repro`'s verdicts: whether a re-run reproduced its original, claims first, then rows
(bench.rerun runs the original again; `bench repro A.json B.json` only compares).

Claims (bench.analysis.facts, judged by bench.analysis.claims) are ratios within one run, so the machine's drift
cancels out of them: they are what a reader shares, and they are judged first.

Rows: new/expected median response time, where expected is the original's median (times the
machine factors when the original ran on another machine: bench.analysis.machines). A row is
- REPRODUCED when that ratio is within ±tolerance;
- DIFFERS when it is outside the band and the difference is significant (Mann-Whitney U,
  p < alpha, with enough trials for the test to decide), and, for rows that Ray's per-task
  cost dominates, larger than the session-to-session spread this machine class shows;
- CAN'T TELL when it is outside the band but not significant (the machine's noise is wider
  than the tolerance: the line says how many more trials would settle it), or within the
  session spread that one driver session per run does not sample.
Wrong answers in either file, and a row the new run lacks, do not reproduce. The whole-run
shift and the machine probe are printed as explanations, never divided out.

Exit codes: 0 every claim holds and no row differs; 1 a claim or a row differs (or answers
wrongly, or is missing); 2 a bad file or option; 3 nothing differs but a claim can't tell.

Tolerances per mode (TOLERANCES; issue 10's targets): ±10% for everything on an embedded Ray;
on a cluster joined by --address (the compose appliance), ±15% for ray-batched and ray-auto,
whose tasks cross nodes. `--tolerance T` sets one band for every row.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from typing import Mapping

from bench import mode_table
from bench import options as option_table
from bench.analysis import claims as claims_mod
from bench.analysis import compare
from bench.analysis import facts as facts_mod
from bench.analysis import machines as machines_mod
from bench.analysis.repro_explain import (CALIBRATION_NOOP_LABEL, ENVIRONMENT_KEYS, MACHINE_SHARE, SHIFT_AGREEMENT,  # noqa: F401
                                          SHIFT_MIN, SHIFT_MIN_ROWS, Shift, _cpu_nodes, _lease_candidates, _ratio,
                                          _whole_run_probe, environment_differences, host_steal, machine_reading,
                                          machine_speed, whole_run_shift)
from bench.errors import BenchError, UsageError
from bench.results import Results, Run

DEFAULT_TOLERANCE = 0.10
CALIBRATION = "calibration"  # the no-op calibration's row, judged as a mode (per-task cost)
RULE = ("a row reproduces when new/expected median response time is within ±tolerance; outside it, it differs "
        "only when significant (Mann-Whitney U) and beyond Ray's session spread, else can't tell")
# Ray's per-task rate moves between driver sessions while the CPU holds: the no-op calibration
# 10-20% between two sessions, a session's first block 0.87-1.17x (docs/measurements.md,
# docs/design.md). One session per run does not sample that, so a per-task row inside it
# can't tell a changed program from another session.
SESSION_SPREAD = 0.20
PER_TASK_MIN_TASKS = 1000  # a batched row with this many tasks is dominated by per-task cost
# The recorded config's keys -> `bench run` options, and the keys that are outcomes the runner
# records, not options to set again: both from the one option table (bench.options).
RECORDED_NOT_OPTIONS = option_table.RECORDED_NOT_OPTIONS
OPTION_NAMES = option_table.OPTION_NAMES


class NotReproduced(BenchError):
    """A claim or a row differs: exit 1."""

    exit_code = 1


class Undecided(BenchError):
    """Nothing differs, but a claim can't tell: exit 3."""

    exit_code = 3


def check_tolerance(tolerance) -> float | None:
    if tolerance is None:
        return None
    return option_table.fraction("tolerance", tolerance)


def _on_cluster(res: Results) -> bool:
    return res.cluster.get("mode") == "existing" or bool(res.config.get("address"))


def tolerance_table(a: Results, b: Results, tolerance: float | None = None) -> dict[str, float]:
    """The band per mode: one value for all when given, else issue 10's targets for where the files ran."""
    modes = (*mode_table.names(), CALIBRATION)
    if tolerance is not None:
        return {mode: float(tolerance) for mode in modes}
    table = {mode: DEFAULT_TOLERANCE for mode in modes}
    if _on_cluster(a) or _on_cluster(b):  # the mode table's wider bands where tasks cross nodes
        table.update({name: spec.cluster_tolerance for name, spec in mode_table.TABLE.items()
                      if spec.cluster_tolerance is not None})
    return table


@dataclass(frozen=True)
class ReproRow:
    label: str
    mode: str
    status: str  # reproduced | differs | cant-tell | wrong | missing | extra | no-samples
    verdict: str
    tolerance: float
    n_a: int = 0
    n_b: int = 0
    median_a: float | None = None
    median_b: float | None = None
    ratio: float | None = None  # new / expected median (> 1: the new run is slower)
    p_value: float | None = None
    ci: tuple[float, float] | None = None
    machine: float | None = None  # the machine probe around this row's trials, new / original
    factor: float = 1.0  # expected new / original from the machine factors (1 on the same machine)
    reason: str = ""  # can't tell: "noise" or "session"
    more_trials: int | None = None  # can't tell from noise: trials a side that would settle it

    @property
    def counts(self) -> bool:
        """Rows the overall verdict is over (a row only the new run has is extra information)."""
        return self.status != "extra"

    @property
    def ok(self) -> bool:
        return self.status in ("reproduced", "extra", "cant-tell")

    @property
    def raw_ratio(self) -> float | None:
        """new / original, before any machine factor."""
        return self.ratio * self.factor if self.ratio is not None else None


@dataclass(frozen=True)
class Reproduction:
    rows: tuple[ReproRow, ...]
    tolerances: Mapping[str, float]
    environment: tuple[str, ...] = ()  # what differs between the two files' machines and versions
    rule: str = RULE
    steal: tuple[float, float] | None = None  # host CPU steal over the measured rounds: original, new
    machine: float | None = None  # the machine probe over all of each run, new / original
    claims: tuple[claims_mod.ClaimVerdict, ...] = ()
    machines: machines_mod.MachineFactors | None = None
    items: str = "lookups"
    code: tuple[str | None, str | None] = (None, None)  # git commit (with -dirty): original, new

    def machine_line(self) -> str | None:
        """Whether the machine's own speed explains each row that differs: the probe around that
        row's trials, new/original, and the row's ratio with it divided out. None for files
        from before the probe, and across machines (the factors are applied there)."""
        if self.machine is None or not self.same_machine:
            return None
        said = [f"{row.label} {row.ratio:.2f}× with the machine at {row.machine:.2f}× ({machine_reading(row)})"
                for row in self.rows if row.status in ("differs", "cant-tell") and row.ratio and row.machine]
        return (f"machine probe (a fixed CPU loop timed around every round, new/original): {self.machine:.2f}× "
                f"over the run" + (f"; during the rows that differ or can't tell: {'; '.join(said)}" if said else ""))

    @property
    def same_machine(self) -> bool:
        return self.machines is None or self.machines.same

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
    def undecided(self) -> list[ReproRow]:
        return [row for row in self.rows if row.status == "cant-tell"]

    @property
    def claims_verdict(self) -> str:
        return claims_mod.overall(list(self.claims))

    @property
    def reproduced(self) -> bool:
        """Every claim holds and no row differs (rows that can't tell are named, not failed)."""
        return bool(self.counted) and not self.failed and self.claims_verdict == claims_mod.HOLDS

    def summary(self) -> str:
        counted, failed, undecided = self.counted, self.failed, self.undecided
        if not counted:
            return "NOT reproduced: no rows to compare"
        held = sum(c.status == claims_mod.HOLDS for c in self.claims)
        claims = f"claims: {held} of {len(self.claims)} hold"
        differ = [c.key for c in self.claims if c.status == claims_mod.DIFFERS]
        unsure = [c.key for c in self.claims if c.status == claims_mod.CANT_TELL]
        claims += (f"; differ: {', '.join(differ)}" if differ else "") + (f"; can't tell: {', '.join(unsure)}" if unsure else "")
        rows = (f"rows: {len(counted) - len(failed) - len(undecided)} of {len(counted)} reproduced, "
                f"{len(failed)} differ, {len(undecided)} can't tell")
        if failed:
            rows += ": " + ", ".join(f"{row.label} ({_short_reason(row)})" for row in failed)
        head = ("reproduced" if self.reproduced else "NOT reproduced" if failed or differ
                else "can't tell")
        return f"{head}: {claims}; {rows}"

    def to_dict(self) -> dict:
        """What the new results file records (metadata.repro): figures and outcomes, no prose."""
        m = self.machines
        return {
            "tolerances": dict(self.tolerances),
            "reproduced": self.reproduced,
            "claims_verdict": self.claims_verdict,
            "claims": [{"key": c.key, "status": c.status, "original": c.original, "new": c.new, "factor": c.factor,
                        "ratio": c.ratio, "ci": list(c.ci) if c.ci else None, "tolerance": c.tolerance,
                        "reason": c.reason} for c in self.claims],
            "environment_differences": list(self.environment),
            "same_machine": self.same_machine,
            "machine_factors": None if m is None else {"python": m.python, "ray_task": m.ray_task, "numpy": m.numpy,
                                                      "differences": [list(map(str, d)) for d in m.differences]},
            "shift": {"factor": self.shift.factor, "rows": self.shift.rows, "slower": self.shift.slower,
                      "named": self.shift.named, "witnesses": dict(self.shift.witnesses)},
            "machine_probe": {"ratio": self.machine, "rows": {r.label: r.machine for r in self.rows if r.machine}},
            "code": list(self.code),
            "rows": [{"label": r.label, "mode": r.mode, "status": r.status, "tolerance": r.tolerance,
                      "ratio": r.ratio, "factor": r.factor, "p_value": r.p_value,
                      "ci": list(r.ci) if r.ci else None, "reason": r.reason, "more_trials": r.more_trials}
                     for r in self.rows],
        }


def _short_reason(row: ReproRow) -> str:
    if row.status == "differs" and row.ratio is not None:
        return f"{row.ratio:.2f}×"
    return row.status


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def per_task_row(mode: str, params) -> bool:
    """Rows whose time is mostly Ray's per-task cost: they move with the driver session."""
    spec = mode_table.spec_of(mode)
    cost = "per_task" if mode == CALIBRATION else spec.cost if spec else None
    return cost == "per_task" or (cost == "batched" and (params.get("tasks") or 0) >= PER_TASK_MIN_TASKS)


def more_trials_to_settle(ratio: float, ci: tuple[float, float] | None, n: int) -> int | None:
    """Trials a side that would shrink the 95% interval until it excludes 1 at this ratio
    (the interval narrows as 1/sqrt(n)); None when there is no interval to scale."""
    if not ci or ratio <= 0 or ci[0] <= 0 or n < 2 or ratio == 1.0:
        return None
    half = (math.log(ci[1]) - math.log(ci[0])) / 2
    needed = math.ceil(n * (half / abs(math.log(ratio))) ** 2)
    return max(needed - n, 1)


def _judge(run_a: Run, run_b: Run, tolerance: float, alpha: float, factor: float = 1.0) -> ReproRow:
    sa = [t * factor for t in compare.response_samples(run_a)]
    sb = compare.response_samples(run_b)
    ma, mb = (statistics.median(x) if x else None for x in (sa, sb))
    ratio = mb / ma if ma and mb is not None else None
    p = compare.mann_whitney_p(sa, sb) if sa and sb else None
    ci = compare.bootstrap_ratio_ci(sa, sb)
    testable = compare.min_attainable_p(len(sa), len(sb)) < alpha
    common = dict(label=run_a.label, mode=run_a.mode, tolerance=tolerance, n_a=len(sa), n_b=len(sb),
                  median_a=ma / factor if ma else ma, median_b=mb, ratio=ratio, p_value=p, ci=ci, factor=factor)
    if not (run_a.correct and run_b.correct):
        which = " and ".join(x for x, ok in (("the original", run_a.correct), ("the new run", run_b.correct)) if not ok)
        return ReproRow(status="wrong", verdict=f"wrong answers in {which}", **common)
    if ratio is None:
        return ReproRow(status="no-samples", verdict="no samples to compare", **common)
    deviation = abs(ratio - 1.0)
    if deviation <= tolerance + 1e-12:
        return ReproRow(status="reproduced", verdict=f"reproduced within {max(1, math.ceil(deviation * 100 - 1e-9))}%",
                        **common)
    if factor == 1.0 and per_task_row(run_a.mode, run_a.params) and deviation <= SESSION_SPREAD + 1e-12:
        return ReproRow(status="cant-tell", reason="session", verdict=(
            f"can't tell: {ratio:.2f}×, within Ray's session-to-session spread on this machine class "
            f"(±{SESSION_SPREAD:.0%}), which one session per run does not sample"), **common)
    if testable and p is not None and p < alpha:
        return ReproRow(status="differs", verdict=f"differs: {ratio:.2f}×, {_fmt_p(p)}", **common)
    more = more_trials_to_settle(ratio, ci, min(len(sa), len(sb)))
    if not testable:
        more = max(more or 0, (compare.trials_for_alpha(alpha) or 0) - min(len(sa), len(sb))) or more
    why = f"{len(sa)} vs {len(sb)} trials: too few for the rank test" if not testable else "not significant"
    return ReproRow(status="cant-tell", reason="noise", more_trials=more, verdict=(
        f"can't tell: {ratio:.2f}×, {_fmt_p(p)} ({why}; the noise is wider than ±{tolerance:.0%}"
        + (f"; about {more} more trial{'s' if more != 1 else ''} a side would settle it" if more else "") + ")"), **common)


def interleaved_calibration(res: Results) -> bool:
    """Whether the file's calibration figure comes from batches after the rounds (bench.engine.calibration)."""
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


def code_version(res: Results) -> str | None:
    commit = res.metadata.get("git_commit")
    if not commit:
        return None
    return f"{commit}{'-dirty' if res.metadata.get('git_dirty') else ''}"


def reproduction_table(a: Results, b: Results, tolerance: float | None = None,
                       alpha: float = compare.ALPHA) -> Reproduction:
    """Claims, then a verdict per row of b (the re-run) against a (the original). Pure: no Ray, no I/O."""
    diff = compare.workload_difference(a, b)
    if diff:
        raise UsageError(f"not the same workload, nothing to reproduce ({diff})")
    tolerances = tolerance_table(a, b, check_tolerance(tolerance))
    facts_a, facts_b = facts_mod.compute(a), facts_mod.compute(b)
    machines = machines_mod.compare_machines(facts_a.fingerprint, facts_b.fingerprint)
    model_a = (a.analysis or {}).get("model")
    runs_a = {run.label: run for run in a.runs}
    claims = claims_mod.judge_all(facts_a, facts_b, lambda fact: machines_mod.fact_factor(
        machines, fact, facts_a, runs_a, model_a))
    pairs, only_a, only_b = compare.match_runs(a, b)
    block = not (interleaved_calibration(a) and interleaved_calibration(b))  # like with like
    cal_a, cal_b = calibration_runs(a, block), calibration_runs(b, block)
    cal_b_by_label = {run.label: run for run in cal_b}
    pairs += [(run, cal_b_by_label.pop(run.label)) for run in cal_a if run.label in cal_b_by_label]
    only_a += [run for run in cal_a if run.label not in {p[0].label for p in pairs}]
    only_b += list(cal_b_by_label.values())
    rows = [replace(_judge(ra, rb, tolerances.get(ra.mode, DEFAULT_TOLERANCE), alpha,
                           machines_mod.run_factor(machines, ra, model_a)),
                    machine=_ratio(machine_speed(b, rb), machine_speed(a, ra)))
            for ra, rb in pairs]
    rows += [ReproRow(run.label, run.mode, "missing", "missing from the new run",
                      tolerances.get(run.mode, DEFAULT_TOLERANCE)) for run in only_a]
    rows += [ReproRow(run.label, run.mode, "extra", "only in the new run (not compared)",
                      tolerances.get(run.mode, DEFAULT_TOLERANCE)) for run in only_b]
    env = environment_differences(a.metadata, b.metadata, a.cluster, b.cluster)
    steal = (host_steal(a), host_steal(b))
    return Reproduction(tuple(rows), tolerances, tuple(env), steal=steal if None not in steal else None,
                        machine=_whole_run_probe(a, b), claims=tuple(claims), machines=machines,
                        items=facts_a.items, code=(code_version(a), code_version(b)))


def _raise_unless_reproduced(rep: Reproduction) -> None:
    differ = [c.key for c in rep.claims if c.status == claims_mod.DIFFERS]
    failed = rep.failed
    if failed or differ or not rep.counted:
        named = [f"claim {key}" for key in differ] + [row.label for row in failed]
        shown = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
        raise NotReproduced(f"not reproduced: {len(differ)} claim(s) and {len(failed)} of {len(rep.counted)} "
                            f"row(s) differ ({shown or 'no rows to compare'})")
    if rep.claims_verdict != claims_mod.HOLDS:
        unsure = [c.key for c in rep.claims if c.status == claims_mod.CANT_TELL]
        raise Undecided(f"can't tell: no claim or row differs, but {len(unsure)} claim(s) cannot be judged "
                        f"({', '.join(unsure) or 'no claims'})")


def tolerance_line(tolerances: Mapping[str, float]) -> str:
    groups: dict[float, list[str]] = {}
    for mode, tol in tolerances.items():
        groups.setdefault(tol, []).append(mode)
    return "tolerance: " + "; ".join(f"±{tol:.0%} {', '.join(modes)}" for tol, modes in sorted(groups.items()))
