"""Whether two results files ran on the same machine, and by what factors their costs differ.

Kinds of cost move by different factors between machines (DESIGN.md §12: the CPU probe and
sequential Python 2.6-2.7x, Ray's per-task time 2.0-2.4x, numpy 1.4x), so a file from
another machine is judged against a prediction per kind of cost, never one factor:
- Python work: the machine probe (a fixed CPU loop timed around every round);
- Ray's per-task cost: the no-op task time (the calibration);
- numpy: its own seconds per lookup.
Batched rows and ray-auto are predicted by the file's fitted model with c (and the fixed
cost a) scaled by the Ray factor and w by the Python factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.analysis.conditions import Fingerprint
from bench.analysis.facts import Fact, Facts
from bench.analysis.model import predict
from bench.mode_table import spec_of
from bench.results import Run

# A probe this far apart (either way) is another machine, or this one so changed that the
# same-machine bands cannot apply: this machine class drifts 10-15% within a session
# (docs/measurements.md), so 25% is beyond drift.
PROBE_LIMIT = 1.25
MEMORY_LIMIT = 0.10


@dataclass(frozen=True)
class MachineFactors:
    same: bool
    differences: tuple[tuple[str, object, object], ...]  # (what, original, new)
    python: float | None  # new / original seconds of the probe (> 1: this machine is slower)
    ray_task: float | None  # new / original seconds per no-op task
    numpy: float | None  # new / original numpy seconds per lookup
    # Both files ran in one kernel boot: one machine, whatever its probe did (load or drift then).
    same_boot: bool = False


def probe_apart(python: float | None) -> bool:
    """The machine probe moved beyond PROBE_LIMIT either way (python: new / original seconds)."""
    return python is not None and not (1 / PROBE_LIMIT <= python <= PROBE_LIMIT)


def _ratio(new, old) -> float | None:
    return new / old if new and old else None


def compare_machines(fa: Fingerprint, fb: Fingerprint) -> MachineFactors:
    """The fingerprints' differences (original a, new b) and the three cost factors."""
    diffs = []
    for what, va, vb in (("cpu_model", fa.cpu_model, fb.cpu_model), ("logical_cores", fa.logical_cores, fb.logical_cores),
                         ("physical_cores", fa.physical_cores, fb.physical_cores)):
        if va is not None and vb is not None and va != vb:
            diffs.append((what, va, vb))
    if fa.memory_bytes and fb.memory_bytes and abs(fb.memory_bytes / fa.memory_bytes - 1) > MEMORY_LIMIT:
        diffs.append(("memory_bytes", fa.memory_bytes, fb.memory_bytes))
    python = _ratio(fb.probe_s, fa.probe_s)
    same_boot = fa.boot is not None and fa.boot == fb.boot
    # A probe 1.39x apart was seen on one VM in one hour, the original's rounds run beside other work:
    # within one boot the probe says how loaded the machine was, not which machine it was.
    if probe_apart(python) and not same_boot:
        diffs.append(("probe_s", fa.probe_s, fb.probe_s))
    same = not diffs
    return MachineFactors(same, tuple(diffs), python, _ratio(fb.noop_task_s, fa.noop_task_s),
                          _ratio(fb.numpy_item_s, fa.numpy_item_s), same_boot)


def _model_time(model: dict, batch_size: float, ray: float, python: float) -> float:
    return predict(model["fixed_cost_s"] * ray, model["per_task_overhead_s"] * ray,
                   model["per_lookup_work_s"] * python, int(model["queries"]), int(model["cpus"]), batch_size)


def row_factor(m: MachineFactors, mode: str, params, model: dict | None) -> float:
    """The expected new/original time of one row on the new machine (1 on the same machine)."""
    if m.same:
        return 1.0
    python = m.python or 1.0
    ray = m.ray_task or 1.0
    spec = spec_of(mode)
    cost = "per_task" if mode == "calibration" else spec.cost if spec else None  # the mode table's cost
    if cost == "python":
        return python
    if cost == "numpy":
        return m.numpy or python
    if cost == "per_task":
        return ray
    batch = params.get("batch_size") if params else None
    if cost == "batched" and model and batch and model.get("per_task_overhead_s") is not None:
        base = _model_time(model, float(batch), 1.0, 1.0)
        return _model_time(model, float(batch), ray, python) / base if base > 0 else ray
    return ray


def run_factor(m: MachineFactors, run: Run, model: dict | None) -> float:
    return row_factor(m, run.mode, run.params, model)


def fact_factor(m: MachineFactors, fact: Fact, facts: Facts, runs: dict[str, Run], model: dict | None) -> float:
    """The expected new/original value of a claim on the new machine, from its rows' factors."""
    if m.same or fact.unit == "B":
        return 1.0
    python, ray = m.python or 1.0, m.ray_task or 1.0
    if fact.key == "per_task_overhead":
        return ray
    if fact.key == "per_item_work":
        return python
    if fact.key == "break_even":
        return ray / python
    if fact.key == "naive_fidelity":
        return 1.0
    if len(fact.runs) == 2 and all(label in runs for label in fact.runs):
        slower, faster = (runs[label] for label in fact.runs)
        # a parallel efficiency moves as its speed-up does (each file divides by its own cores)
        return run_factor(m, slower, model) / run_factor(m, faster, model)
    return 1.0


def describe_factor(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "not recorded"
    return f"{value:.2f}×"
