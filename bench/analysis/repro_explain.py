"""The explanations `bench repro` prints beside its verdicts, never divided out of them: the
whole-run shift, the machine probe around each row's trials, and what differs between the
two files' environments."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping

from bench.results import Results, Run

CALIBRATION_NOOP_LABEL = "calibration: time per no-op task"
ENVIRONMENT_KEYS = ("image", "image_id", "ray_version", "python_version", "numpy_version", "bench_version",
                    "git_commit", "cpu_model", "cpu_count")


# A whole-run shift is named when the rows' median ratio is off by 5% or more and at least
# three quarters of them (of four or more) moved the same way.
SHIFT_MIN, SHIFT_AGREEMENT, SHIFT_MIN_ROWS = 0.05, 0.75, 4


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


def whole_run_shift(rows: list, steal: tuple[float, float] | None = None) -> Shift:
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


def machine_reading(row) -> str:
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
        if jobs_a is not None and jobs_b is not None and jobs_a != jobs_b:  # bench.engine.cluster.earlier_jobs
            found.append(f"driver jobs the cluster had run before: {jobs_a} (original) vs {jobs_b} (now)")
    return found


def _lease_candidates(cluster: Mapping) -> int | str:
    """How many nodes a lease no raylet could grant was drawn from (bench.engine.placement)."""
    return (cluster.get("lease_placement") or {}).get("fewest_candidates") or "not recorded"


def _cpu_nodes(cluster: Mapping) -> int | None:
    nodes = cluster.get("nodes")
    if not nodes:
        return None
    return len([n for n in nodes if n.get("alive", True) and (n.get("cpus") or 0) > 0])


