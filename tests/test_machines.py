"""bench.analysis.machines: when two fingerprints are two machines, and the factor each row and claim is
expected to move by there (issue 22's cross-machine judging; issue 25: its mutation score)."""

from __future__ import annotations

import math

import pytest

from bench.analysis import machines
from bench.analysis.conditions import Fingerprint
from bench.analysis.facts import Fact, Facts
from bench.analysis.model import predict
from bench.results import Run

MODEL = {"fixed_cost_s": 0.02, "per_task_overhead_s": 0.004, "per_lookup_work_s": 1.6e-6, "queries": 100_000, "cpus": 3}


def _print(**changes):
    base = dict(cpu_model="Xeon", logical_cores=2, physical_cores=1, memory_bytes=8 * 2**30, virtualization="kvm",
                probe_s=0.02, noop_task_s=0.001, numpy_item_s=1e-7)
    return Fingerprint(**{**base, **changes})


def test_each_difference_is_named_and_the_factors_are_new_over_original():
    same = machines.compare_machines(_print(), _print(probe_s=0.024))
    assert same.same and same.differences == () and same.python == pytest.approx(1.2)
    other = machines.compare_machines(
        _print(), _print(cpu_model="EPYC", logical_cores=4, physical_cores=2, memory_bytes=16 * 2**30,
                         probe_s=0.05, noop_task_s=0.0025, numpy_item_s=1.5e-7))
    assert not other.same
    assert other.differences == (("cpu_model", "Xeon", "EPYC"), ("logical_cores", 2, 4), ("physical_cores", 1, 2),
                                 ("memory_bytes", 8 * 2**30, 16 * 2**30), ("probe_s", 0.02, 0.05))
    assert (other.python, other.ray_task, other.numpy) == pytest.approx((2.5, 2.5, 1.5))
    unrecorded = machines.compare_machines(_print(noop_task_s=None, numpy_item_s=None), _print())
    assert (unrecorded.ray_task, unrecorded.numpy) == (None, None)


def test_a_probe_exactly_at_the_limit_is_still_this_machine():
    assert machines.compare_machines(_print(probe_s=1.0), _print(probe_s=1.25)).same
    assert machines.compare_machines(_print(probe_s=1.0), _print(probe_s=1 / 1.25)).same
    assert not machines.compare_machines(_print(probe_s=1.0), _print(probe_s=1.2501)).same
    assert machines.compare_machines(_print(memory_bytes=100), _print(memory_bytes=109)).same


def _factors(python=2.0, ray=3.0, numpy=1.5, same=False):
    return machines.MachineFactors(same, () if same else (("cpu_model", "a", "b"),), python, ray, numpy)


def test_each_row_moves_by_its_kind_of_cost():
    m = _factors()
    assert machines.row_factor(m, "sequential", {}, MODEL) == 2.0
    assert machines.row_factor(m, "multiprocessing", {}, MODEL) == 2.0
    assert machines.row_factor(m, "numpy", {}, MODEL) == 1.5
    assert machines.row_factor(_factors(numpy=None), "numpy", {}, MODEL) == 2.0  # no numpy rate: Python's
    assert machines.row_factor(m, "ray-naive", {}, MODEL) == 3.0
    assert machines.row_factor(m, "calibration", {}, MODEL) == 3.0
    for mode in ("ray-batched", "ray-auto"):  # through the model: a and c by Ray's factor, w by Python's
        expected = (predict(0.02 * 3.0, 0.004 * 3.0, 1.6e-6 * 2.0, 100_000, 3, 1000.0)
                    / predict(0.02, 0.004, 1.6e-6, 100_000, 3, 1000.0))
        assert machines.row_factor(m, mode, {"batch_size": 1000}, MODEL) == pytest.approx(expected, rel=1e-12)
        assert 2.0 < expected < 3.0
        assert machines.row_factor(m, mode, {}, MODEL) == 3.0  # no batch size: Ray's
        assert machines.row_factor(m, mode, None, MODEL) == 3.0
        assert machines.row_factor(m, mode, {"batch_size": 1000}, None) == 3.0  # no model: Ray's
        assert machines.row_factor(m, mode, {"batch_size": 1000}, {**MODEL, "per_task_overhead_s": None}) == 3.0
    zero = dict(MODEL, fixed_cost_s=0.0, per_task_overhead_s=0.0, per_lookup_work_s=0.0)
    assert machines.row_factor(m, "ray-batched", {"batch_size": 1000}, zero) == 3.0  # nothing to scale
    unknown = _factors(python=None, ray=None)
    assert machines.row_factor(unknown, "sequential", {}, MODEL) == 1.0
    assert machines.row_factor(unknown, "ray-naive", {}, MODEL) == 1.0
    assert machines.row_factor(_factors(same=True), "ray-naive", {}, MODEL) == 1.0


def _fact(key, unit="x", runs=()):
    return Fact(key, 1.0, unit, None, runs, 0, True, 0.1)


def test_each_claim_moves_by_the_factors_of_what_it_compares():
    m = _factors()
    runs = {"seq": Run(mode="sequential", label="seq", params={}, samples={}, stats={}, correct=True),
            "naive": Run(mode="ray-naive", label="naive", params={}, samples={}, stats={}, correct=True)}
    facts = Facts("standard", False, "lookups", (), (), None)
    factor = lambda fact: machines.fact_factor(m, fact, facts, runs, MODEL)  # noqa: E731
    assert factor(_fact("per_task_overhead", "s")) == 3.0
    assert factor(_fact("per_item_work", "s")) == 2.0
    assert factor(_fact("break_even", "items/task")) == 1.5
    # naive / no-op and the best B: the same factor on both sides, whatever rows they name
    assert factor(_fact("naive_fidelity", runs=("naive", "seq"))) == 1.0
    assert factor(_fact("best_b_region", "B", runs=("naive", "seq"))) == 1.0
    assert factor(_fact("batched_vs_naive", runs=("naive", "seq"))) == 1.5  # slower's factor / faster's
    assert factor(_fact("batched_vs_naive", runs=("naive", "gone"))) == 1.0  # a run it cannot find
    assert factor(_fact("batched_vs_naive", runs=("naive",))) == 1.0
    assert machines.fact_factor(_factors(same=True), _fact("per_task_overhead", "s"), facts, runs, MODEL) == 1.0
    unknown = _factors(python=None, ray=None)
    assert machines.fact_factor(unknown, _fact("per_task_overhead", "s"), facts, runs, MODEL) == 1.0
    assert machines.fact_factor(unknown, _fact("per_item_work", "s"), facts, runs, MODEL) == 1.0


def test_a_factor_not_recorded_says_so():
    assert machines.describe_factor(None) == "not recorded"
    assert machines.describe_factor(math.nan) == "not recorded"
    assert machines.describe_factor(math.inf) == "not recorded"
    assert machines.describe_factor(0.4812) == "0.48×"


def test_one_kernel_boot_is_one_machine_however_far_its_probe_moved():
    """Pair 7 (2026-12-06): the original's rounds ran beside other work on the same VM, its probe 1.39x the
    re-run's; judged as another machine, sequential (162 ms in both) 'differed' by 1.39x."""
    loaded = machines.compare_machines(_print(probe_s=0.0322, boot="b1"), _print(probe_s=0.0231, boot="b1"))
    assert loaded.same and loaded.same_boot and loaded.differences == ()
    assert loaded.python == pytest.approx(0.0231 / 0.0322)  # still recorded: it explains drift on the same machine
    rebooted = machines.compare_machines(_print(probe_s=0.0322, boot="b1"), _print(probe_s=0.0231, boot="b2"))
    assert not rebooted.same and not rebooted.same_boot and rebooted.differences == (("probe_s", 0.0322, 0.0231),)
    unrecorded = machines.compare_machines(_print(probe_s=0.0322), _print(probe_s=0.0231))
    assert not unrecorded.same and not unrecorded.same_boot  # files from before the boot was recorded: as before
    one_sided = machines.compare_machines(_print(probe_s=0.0322, boot=None), _print(probe_s=0.0231, boot="b1"))
    assert not one_sided.same_boot and not one_sided.same
    # the same boot never hides a hardware difference (it cannot happen, but the check stays)
    assert not machines.compare_machines(_print(boot="b1"), _print(boot="b1", cpu_model="EPYC")).same


def test_the_kernel_boot_is_recorded_hashed_and_read_into_the_fingerprint(tmp_path, monkeypatch):
    import hashlib

    from bench.analysis.conditions import fingerprint
    from bench.engine import metadata
    from bench.results import Results

    boot = tmp_path / "boot_id"
    boot.write_text("6f1c2a9e-0000-4000-8000-123456789abc\n")
    monkeypatch.setattr(metadata, "BOOT_ID_PATH", boot)
    expected = hashlib.sha256(b"6f1c2a9e-0000-4000-8000-123456789abc").hexdigest()[:16]
    assert metadata.boot_id_sha256() == expected and metadata.collect([])["boot_id_sha256"] == expected
    res = Results(metadata={"boot_id_sha256": expected}, workload={}, cluster={}, runs=())
    assert fingerprint(res).boot == expected
    assert fingerprint(Results(metadata={}, workload={}, cluster={}, runs=())).boot is None
    boot.write_text("\n")
    assert metadata.boot_id_sha256() is None  # empty: nothing to tell machines apart by
    monkeypatch.setattr(metadata, "BOOT_ID_PATH", tmp_path / "missing")
    assert metadata.boot_id_sha256() is None
