"""The one table of execution modes: everything the suite, the analysis and the report know
about a mode, declared once (as bench.options declares the options).

A new mode is one entry here and its strategy class in bench.engine (a Mode subclass with a
`trial`); the suite plans its runs, compare and repro key and judge them, the machine factors
scale them and the charts colour them from this entry. Names the engine resolves (the class,
the plan) are strings, so that the results model and the readers never import the engine.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

# How a mode's time moves to another machine (bench.analysis.machines) and between Ray driver
# sessions (bench.analysis.repro): Python work, numpy work, Ray's per-task cost, or batches of
# Python work behind Ray's per-task cost (the model's c and w).
COSTS = ("python", "numpy", "per_task", "batched")
# How the suite plans its runs (bench.engine.rounds.PLANS): one run of N items; one run on a pool
# of the driver's CPUs; one run per --naive-tasks count; one per --batch-sizes entry (plus one task
# per CPU); one run told the cluster's CPUs.
PLANS = ("once", "pool", "per_task_count", "per_batch_size", "cluster_sized")


@dataclass(frozen=True)
class ModeSpec:
    name: str
    strategy: str | type  # "MODULE:CLASS" of its bench.engine strategy (a class itself, for a test's mode)
    needs_ray: bool
    plan: str  # one of PLANS
    key: tuple[str, ...] = ()  # the params that, beside the mode, make two files' runs the same experiment
    colour: str = "sky"  # its Okabe-Ito colour on every chart (bench.report.charts.OKABE_ITO)
    cost: str = "python"  # one of COSTS
    cluster_tolerance: float | None = None  # repro's band on a cluster, where wider than the default
    fault_tasks: str | None = None  # whose retries a fault's cost counts: "single" (one item a task), "batched"
    parallel: bool = False  # uses more than one CPU: in the scaling report's speed-up and efficiency

    def strategy_class(self) -> type:
        """The engine's class for this mode, imported when a run needs it."""
        if isinstance(self.strategy, type):
            return self.strategy
        module, _, name = self.strategy.partition(":")
        return getattr(importlib.import_module(module), name)


# Declaration order is the order of --modes' default, of the tables and of the charts' legends.
TABLE: dict[str, ModeSpec] = {spec.name: spec for spec in (
    ModeSpec("sequential", "bench.engine.modes:Sequential", needs_ray=False, plan="once", colour="black"),
    ModeSpec("numpy", "bench.engine.modes:Numpy", needs_ray=False, plan="once", colour="green", cost="numpy"),
    ModeSpec("multiprocessing", "bench.engine.modes:Multiprocessing", needs_ray=False, plan="pool",
             colour="purple", parallel=True),
    ModeSpec("ray-naive", "bench.engine.ray_modes:RayNaive", needs_ray=True, plan="per_task_count", key=("tasks",),
             colour="vermillion", cost="per_task", fault_tasks="single", parallel=True),
    # Tasks that cross nodes in the compose cluster are noisier (issue 10: ±15% there).
    ModeSpec("ray-batched", "bench.engine.ray_modes:RayBatched", needs_ray=True, plan="per_batch_size",
             key=("batch_size",), colour="blue", cost="batched", cluster_tolerance=0.15, fault_tasks="batched",
             parallel=True),
    ModeSpec("ray-auto", "bench.engine.ray_modes:RayAuto", needs_ray=True, plan="cluster_sized", colour="orange",
             cost="batched", cluster_tolerance=0.15, fault_tasks="batched", parallel=True),
)}


def names() -> tuple[str, ...]:
    return tuple(TABLE)


def ray_names() -> tuple[str, ...]:
    return tuple(name for name, spec in TABLE.items() if spec.needs_ray)


def spec_of(name: str) -> ModeSpec | None:
    """The mode's entry; None for a mode this code does not know (a file from other code)."""
    return TABLE.get(name)
