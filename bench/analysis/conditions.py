"""What a results file says about the conditions it ran in, beside its claims (bench.analysis.facts):
its warnings as a kind plus figures, the machine's fingerprint, and what Ray's default placement
cost per task against node affinity. Figures only; the words are chosen where they are shown."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping

from bench.analysis.pairs import log_t_interval, median_of, medians_by_round, paired_ratios, valid_runs
from bench.options import recorded_placement
from bench.results import SETTLE_BUSY_CORES, Results


@dataclass(frozen=True)
class Warning_:
    """A warning as a kind plus its figures; worded only where it is shown."""

    kind: str
    figures: Mapping


@dataclass(frozen=True)
class Fingerprint:
    """What makes one machine's figures another's: recorded metadata plus three rates."""

    cpu_model: str | None
    logical_cores: int | None
    physical_cores: int | None
    memory_bytes: int | None
    virtualization: str | None
    probe_s: float | None  # the machine probe: seconds of a fixed CPU loop (median mark)
    noop_task_s: float | None  # Ray's no-op task: seconds per task (1 / the calibration rate)
    numpy_item_s: float | None  # numpy's seconds per lookup (the floor)
    boot: str | None = None  # the kernel boot it ran in (hashed; None in files before it was recorded)


PLACEMENT_MEASURABLE = 0.05  # a smaller difference between the placements is not called one


@dataclass(frozen=True)
class PlacementCost:
    """The no-op task under the run's --placement and under the other one, in the same rounds
    (bench.engine.calibration): what Ray's default placement costs per task against node affinity."""

    placement: str  # the run's: every Ray row's tasks went this way
    rate: float  # its no-op tasks/s (median)
    other_rate: float  # the other placement's
    default_over_affinity: float  # Ray's default time per no-op task over affinity's (geometric mean of rounds)
    ci: tuple[float, float] | None
    extra_s: float  # seconds more per task under Ray's default (at the medians; < 0: less)
    pairs: int
    driver_node_cpus: float | None = None  # 0: the driver's node runs no task, so Ray's default spills back
    # The task anatomy's phase that grows most under Ray's default (the same shape run both ways
    # after the rounds: bench.engine.anatomy.diagnose), its growth per task, and that shape's B
    grown_phase: str | None = None
    grown_s: float | None = None
    grown_batch: int | None = None

    @property
    def measurable(self) -> bool:
        """Whether the placements differ measurably: an interval that excludes 1, and a
        difference of at least PLACEMENT_MEASURABLE."""
        return bool(self.ci) and not self.ci[0] <= 1 <= self.ci[1] \
            and abs(self.default_over_affinity - 1) >= PLACEMENT_MEASURABLE


# --- warnings -----------------------------------------------------------------------------------

STEAL_WARN = 0.02  # CPU steal worth a warning: 2% of the host's CPU time


def warnings_of(res: Results) -> list[Warning_]:
    """Every warning the verdict carries, as a kind and its figures."""
    found: dict[str, list[str]] = {}
    for run in res.runs:
        for warning in run.extra.get("warnings") or ():
            found.setdefault(warning.get("kind") or "other", []).append(run.label)
    out = [Warning_(f"run-{kind}", {"runs": tuple(labels)}) for kind, labels in found.items()]
    calibration = res.cluster.get("calibration") or {}
    if calibration.get("in_rounds_error"):
        out.append(Warning_("calibration-stopped", {"error": calibration["in_rounds_error"],
                                                    "kept_after_rounds": "before_rounds" in calibration}))
    for message in ((res.cluster.get("system_check") or {}).get("warnings") or ()):
        out.append(Warning_("system-check", {"message": message}))
    placement = res.cluster.get("lease_placement") or {}
    if recorded_placement(res.config) == "affinity":
        pass  # every task asked its node directly: no lease left to a raylet's choice
    elif placement.get("single_node"):
        out.append(Warning_("lease-single-node", dict(placement["single_node"])))
    elif placement.get("warning"):  # files from before the figures were recorded
        out.append(Warning_("lease-single-node", {"message": placement["warning"]}))
    idle = (res.cluster.get("idle_load") or {}).get("host_busy_cores")
    if idle is not None and math.isfinite(idle):
        out.append(Warning_("idle-load", {"busy_cores": idle}))
    waits, busy = [], []
    for run in res.runs:
        quiet = run.extra.get("quiet_before_trial") or {}
        waits += [w for w in quiet.get("waited_s") or () if w is not None]
        busy += [b for b in quiet.get("busy_cores") or () if b is not None]
    if waits:
        out.append(Warning_("quiet-wait", {"total_s": sum(waits), "longest_s": max(waits),
                                           "started_busy": sum(b > SETTLE_BUSY_CORES for b in busy),
                                           "trials": len(busy)}))
    host = (res.cluster.get("host_cpu") or {}).get("measured_rounds") or {}
    if (host.get("steal_share") or 0) >= STEAL_WARN:
        out.append(Warning_("steal", {"share": host["steal_share"]}))
    return out


# --- the machine ---------------------------------------------------------------------------


def probe_marks(res: Results) -> list[float]:
    return [m for m in (((res.cluster.get("host_cpu") or {}).get("probe") or {}).get("probe_s") or ()) if m]


def fingerprint(res: Results) -> Fingerprint:
    meta = res.metadata
    calibration = ((res.cluster.get("calibration") or {}).get("stats") or {}).get("tasks_per_s") or {}
    numpy_runs = valid_runs(res, "numpy")
    marks = probe_marks(res)
    return Fingerprint(
        cpu_model=meta.get("cpu_model"), logical_cores=meta.get("cpu_count"),
        physical_cores=meta.get("physical_cores"), memory_bytes=meta.get("memory_bytes"),
        virtualization=meta.get("virtualization"),
        probe_s=statistics.median(marks) if marks else None,
        noop_task_s=1.0 / calibration["median"] if calibration.get("median") else None,
        numpy_item_s=(median_of(numpy_runs[0]) / float(numpy_runs[0].params.get("queries") or 1)) if numpy_runs else None,
        boot=meta.get("boot_id_sha256"))


def placement_cost(res: Results) -> PlacementCost | None:
    """From the calibration's two placements, measured in the same rounds; None without them."""
    record = res.cluster.get("calibration") or {}
    other = record.get("other_placement") or {}
    here_rates = (record.get("samples") or {}).get("tasks_per_s") or []
    there_rates = (other.get("samples") or {}).get("tasks_per_s") or []
    if not here_rates or not there_rates or not record.get("placement"):
        return None
    if not record.get("trial_rounds") or not other.get("trial_rounds"):
        return None  # only the blocks before the rounds: not the same rounds, no pairs to claim
    # a suite of few rounds plays several batches a round: each round's median
    here, there = medians_by_round(record["trial_rounds"], here_rates), medians_by_round(other["trial_rounds"], there_rates)
    default_first = record["placement"] != "affinity"  # time per task is 1 / rate
    ratios = paired_ratios(here, there) if default_first else paired_ratios(there, here)
    if not ratios:
        return None
    value, ci = log_t_interval([1 / r for r in ratios])
    rate, other_rate = statistics.median(here_rates), statistics.median(there_rates)
    default_rate, affinity_rate = (rate, other_rate) if default_first else (other_rate, rate)
    return PlacementCost(record["placement"], rate, other_rate, value, ci, 1 / default_rate - 1 / affinity_rate,
                         len(ratios), other.get("driver_node_cpus"), *_grown_phase(res, default_first))


def _grown_phase(res: Results, default_first: bool) -> tuple[str | None, float | None, int | None]:
    """The anatomy phase whose median grows most from node affinity to Ray's default, for the
    shape the anatomy ran both ways; (None, None, None) without both."""
    anatomy = res.cluster.get("anatomy") or {}
    there = anatomy.get("other_placement") or {}
    here = next((r for r in anatomy.get("runs") or () if r.get("batch_size") == there.get("batch_size")
                 and r.get("mode") == there.get("mode") and r.get("available")), None)
    if here is None or not there.get("available"):
        return None, None, None
    default, affinity = (here, there) if default_first else (there, here)
    growth = {}
    for name, phase in (default.get("phases") or {}).items():
        base = (affinity.get("phases") or {}).get(name) or {}
        if "median_s" in phase and "median_s" in base:
            growth[name] = phase["median_s"] - base["median_s"]
    if not growth:
        return None, None, None
    name = max(growth, key=growth.get)
    return name, growth[name], int(there["batch_size"])
