"""Ray's lease placement: how many nodes a lease no raylet can grant at once is drawn from,
read from each node's own environment, and the warning when that is a single node."""

from __future__ import annotations

import pytest

import numpy as np

from bench.analysis.wording import lease_single_node_text
from bench.engine import calibration, placement, ray_modes, samplers
from bench.report.summary import verdict_lines


def node(cpus: float, fraction: str | None = None, absolute: str | None = None, alive: bool = True, known=True):
    settings = {placement.TOP_K_FRACTION: fraction, placement.TOP_K_ABSOLUTE: absolute} if known else None
    return {"node_id": f"n{id(object())}", "hostname": "h", "alive": alive, "cpus": cpus, "ray_settings": settings}


@pytest.mark.parametrize("n_nodes, fraction, absolute, expected", [
    (5, 0.2, 1, 1),    # the compose appliance (head, bench, 3 workers) on Ray's defaults
    (9, 0.2, 1, 1),    # still one candidate under 10 nodes
    (10, 0.2, 1, 2),
    (5, 1.0, 1, 5),    # the appliance's setting: every node
    (5, 0.2, 3, 3),    # the absolute floor wins when larger
])
def test_candidates_follow_rays_formula(n_nodes, fraction, absolute, expected):
    assert placement.candidates(n_nodes, fraction, absolute) == expected


def test_rays_defaults_on_a_small_cluster_warn_and_name_the_setting():
    nodes = [node(0), node(0), node(1), node(1), node(1), node(1, alive=False)]
    info = placement.describe(nodes)
    assert (info["nodes"], info["cpu_nodes"], info["fewest_candidates"]) == (5, 3, 1)
    assert all(n["top_k_fraction"] == 0.2 and n["top_k_absolute"] == 1 for n in info["per_node"])
    assert info["single_node"] == {"setting": "RAY_scheduler_top_k_fraction", "value": 0.2, "nodes": 5, "advised": 1.0}
    text = lease_single_node_text(info["single_node"])  # figures recorded, words where shown
    assert "RAY_scheduler_top_k_fraction=1" in text and "0.2 of 5 nodes" in text


def test_the_appliances_setting_draws_from_every_node_and_does_not_warn():
    nodes = [node(0, "1.0"), node(0, "1.0")] + [node(1, "1.0") for _ in range(3)]
    info = placement.describe(nodes)
    assert info["fewest_candidates"] == 5 and "single_node" not in info


def test_one_node_left_on_the_default_is_enough_to_warn():
    nodes = [node(0, "1.0"), node(0)] + [node(1, "1.0") for _ in range(3)]
    info = placement.describe(nodes)
    assert info["fewest_candidates"] == 1 and "single_node" in info


def test_a_single_cpu_node_cannot_pile_up_and_unknown_nodes_do_not_count():
    assert "warning" not in placement.describe([node(2)])  # embedded Ray: one node
    unknown = placement.describe([node(0, known=False), node(1, known=False), node(1, known=False)])
    assert unknown["fewest_candidates"] is None and "warning" not in unknown


def test_a_node_reports_its_own_environment(monkeypatch):
    monkeypatch.setenv(placement.TOP_K_FRACTION, "1.0")
    monkeypatch.delenv(placement.TOP_K_ABSOLUTE, raising=False)
    facts = samplers.node_facts()
    assert facts["ray_settings"] == {placement.TOP_K_FRACTION: "1.0", placement.TOP_K_ABSOLUTE: None}


def test_the_terminal_and_the_report_say_where_leases_go(tmp_path):
    from pathlib import Path

    from bench.report import write_report
    from bench.results import load, save

    res = load(Path(__file__).parent / "fixtures" / "compare-base.json")
    defaults = res.with_cluster(lease_placement=placement.describe([node(0), node(0)] + [node(1) for _ in range(3)]))
    assert [line for line in verdict_lines(defaults) if "single node" in line][0].startswith("warning: Ray on this")
    spread = res.with_cluster(lease_placement=placement.describe([node(c, "1.0") for c in (0, 0, 1, 1, 1)]))
    assert not any("single node" in line for line in verdict_lines(spread))
    for name, results, words in (("defaults", defaults, "sends every lease it cannot place at once to a single node"),
                                 ("spread", spread, "goes to one of 5 of 5 nodes at random")):
        save(results, tmp_path / f"{name}.json")
        page = write_report([str(tmp_path / f"{name}.json")], tmp_path / f"{name}.html", charts=False).read_text()
        assert "Lease placement" in page and words in page


# --- --placement: where the Ray modes send their tasks (issue 23) -----------------------------

CLUSTER = [{"Alive": True, "Resources": {"CPU": 0.0}, "NodeID": "driver-node"},  # the bench container
           {"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "w-c"},
           {"Alive": False, "Resources": {"CPU": 1.0}, "NodeID": "w-dead"},
           {"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "w-a"},
           {"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "w-b"}]


def _placed_trial(clocked_ray, make_mode, n=100):
    from bench.engine.workload import Workload

    _, ray = clocked_ray
    ray.node_list = CLUSTER
    mode = make_mode(Workload(n, array_size=10, seed=3))
    mode.prepare()
    for fn in ray.functions:
        fn.placements.clear()
    outcome = mode.trial(n)
    assert np.array_equal(np.asarray(outcome.answers), mode.workload.reference[:n])
    return [p for fn in ray.functions for p in fn.placements]


@pytest.mark.parametrize("make_mode", [lambda w: ray_modes.RayNaive(w), lambda w: ray_modes.RayNaive(w, window=8),
                                       lambda w: ray_modes.RayBatched(w, batch_size=9),
                                       lambda w: ray_modes.RayAuto(w, cluster_cpus=3)],
                         ids=["naive", "naive-window", "batched", "auto"])
def test_affinity_sends_task_i_to_cpu_node_i_mod_k_softly_and_default_leaves_it_to_ray(clocked_ray, make_mode):
    placements = _placed_trial(clocked_ray, make_mode)
    nodes = ["w-a", "w-b", "w-c"]  # alive, with CPUs, by id: never the 0-CPU driver node or a dead one
    assert placements == [(nodes[i % 3], True) for i in range(len(placements))] and len(placements) >= 3

    def default(w):
        mode = make_mode(w)
        mode.placement = "default"
        return mode

    assert set(_placed_trial(clocked_ray, default)) == {None}  # Ray's own scheduler: no strategy at all


def test_the_calibration_measures_both_placements_in_the_same_rounds(clocked_ray):
    _, ray = clocked_ray
    ray.node_list = CLUSTER
    cal = calibration.Calibration(trials=3, max_trials=3, tasks=30, placement="affinity", other_placement=True)
    noop = ray.functions[0]
    noop.placements.clear()
    for index in range(1, 4):
        cal.after_round(index)
    record = cal.record()
    assert record["placement"] == "affinity" and record["other_placement"]["placement"] == "default"
    assert record["other_placement"]["driver_node_cpus"] == 0.0  # the driver's node runs no task
    assert record["trial_rounds"] == record["other_placement"]["trial_rounds"] == [1, 2, 3]
    assert len(record["other_placement"]["samples"]["tasks_per_s"]) == 3
    # per round: 30 tasks on the CPU nodes in turn and 30 left to Ray, the latter last in odd
    # rounds and first in even ones (never always right after the other batch)
    placed, ray_default = [("w-a", True), ("w-b", True), ("w-c", True)] * 10, [None] * 30
    assert noop.placements == placed + ray_default + ray_default + placed + placed + ray_default
    # two batches a round (a suite planned at fewer rounds than trials): still by turns, batch by batch
    known = len(ray.functions)
    twice = calibration.Calibration(trials=4, max_trials=4, tasks=30, placement="affinity", other_placement=True)
    twice.plan(2)
    noop = ray.functions[known]
    noop.placements.clear()
    for index in (1, 2):
        twice.after_round(index)
    assert twice.record()["trial_rounds"] == twice.record()["other_placement"]["trial_rounds"] == [1, 1, 2, 2]
    assert noop.placements == (placed + ray_default + ray_default + placed) * 2
    assert "other_placement" not in calibration.Calibration(trials=3, max_trials=3, tasks=30).record()


def test_placement_is_an_option_recorded_in_the_config_and_checked():
    from bench.errors import UsageError
    from bench.engine.suites import build_config

    assert build_config(quiet=True).placement == "affinity"
    config = build_config(placement="default", quiet=True)
    assert config.describe()["placement"] == "default"
    with pytest.raises(UsageError, match="--placement must be one of affinity, default, got 'spread'"):
        build_config(placement="spread", quiet=True)


def test_a_node_with_more_cpus_gets_more_tasks_interleaved_and_a_name_keeps_the_placement(clocked_ray):
    _, ray = clocked_ray
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 2.0}, "NodeID": "big"},
                     {"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "small"},
                     {"Alive": True, "Resources": {"CPU": 0.5}, "NodeID": "half"}]  # a fraction counts as one
    assert placement.cpu_node_ids() == ["big", "half", "small", "big"]
    fn = ray.remote(lambda: None)
    named = placement.RoundRobin(fn, "affinity").options(name="anatomy")
    for _ in range(8):
        named.remote()
    assert [node for node, _ in fn.placements] == ["big", "half", "small", "big"] * 2
    plain = placement.RoundRobin(fn, "default").options(name="x")
    plain.remote()
    assert fn.placements[-1] is None


def test_the_lease_warning_is_for_rays_default_placement_only():
    from pathlib import Path

    from bench.analysis import facts
    from bench.results import load

    res = load(Path(__file__).parent / "fixtures" / "compare-base.json")
    lease = placement.describe([node(0), node(0)] + [node(1) for _ in range(3)])
    for recorded, warned in ((None, True), ("default", True), ("affinity", False)):
        placed = res.with_cluster(lease_placement=lease).with_config_extra(placement=recorded)
        kinds = [w.kind for w in facts.compute(placed).warnings]
        assert ("lease-single-node" in kinds) is warned, recorded


def test_the_pages_command_repeats_the_recorded_placement_and_rays_default_for_older_files():
    from pathlib import Path

    from bench.report.reproduce import reproduce
    from bench.results import load

    old = load(Path(__file__).resolve().parent.parent / "docs" / "examples" / "amd-epyc-485"
               / "standard-20261202T175806Z.json")
    assert "placement" not in old.config and "--placement default" in reproduce(old).explicit
    assert "--placement affinity" in reproduce(old.with_config_extra(placement="affinity")).explicit


# --- every figure describe() records, and the node lists (issue 25: bench.engine.placement's mutants) ------

def test_describe_records_each_alive_nodes_settings_and_the_policy():
    nodes = [{"node_id": "a", "hostname": "ha", "alive": True, "cpus": 1,
              "ray_settings": {placement.TOP_K_FRACTION: "1.0", placement.TOP_K_ABSOLUTE: "3"}},
             {"node_id": "b", "hostname": "hb", "alive": True,  # no "cpus": a node without CPUs
              "ray_settings": {placement.TOP_K_FRACTION: "abc", placement.TOP_K_ABSOLUTE: ""}}]
    info = placement.describe(nodes)
    assert info["cpu_nodes"] == 1 and info["nodes"] == 2
    assert info["per_node"] == [
        {"node_id": "a", "hostname": "ha", "top_k_fraction": 1.0, "top_k_absolute": 3, "known": True, "candidates": 3},
        {"node_id": "b", "hostname": "hb", "top_k_fraction": 0.2, "top_k_absolute": 1, "known": True, "candidates": 1}]
    assert info["policy"] == "max(scheduler_top_k_absolute, int(nodes x scheduler_top_k_fraction)) best nodes"
    assert "single_node" not in info  # one CPU node: nowhere else to pile up


def test_two_cpu_nodes_on_rays_default_are_enough_to_pile_up():
    assert "single_node" in placement.describe([node(1), node(1)])


def test_cpu_node_ids_skip_nodes_without_cpus_and_an_empty_cluster_has_none(clocked_ray):
    _, ray = clocked_ray
    ray.node_list = [{"Alive": True, "Resources": {}, "NodeID": "head"},
                     {"Alive": True, "Resources": None, "NodeID": "bench"},
                     {"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "w1"},
                     {"Alive": False, "Resources": {"CPU": 1.0}, "NodeID": "gone"}]
    assert placement.cpu_node_ids() == ["w1"]
    ray.node_list = [{"Alive": True, "Resources": {}, "NodeID": "head"}]
    assert placement.cpu_node_ids() == []


def test_the_driver_nodes_cpus_are_its_own_and_none_when_it_is_not_listed(clocked_ray):
    _, ray = clocked_ray
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 2.0}, "NodeID": "driver-node"}]
    assert placement.driver_node_cpus() == 2.0
    ray.node_list = [{"Alive": True, "Resources": {}, "NodeID": "driver-node"}]
    assert placement.driver_node_cpus() == 0.0
    ray.node_list = [{"Alive": True, "Resources": None, "NodeID": "driver-node"}]
    assert placement.driver_node_cpus() == 0.0
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "elsewhere"}]
    assert placement.driver_node_cpus() is None


class Recording:
    """A remote function that remembers the .options() each submitted task went through."""

    def __init__(self, opts=None, log=None):
        self.opts, self.log = dict(opts or {}), [] if log is None else log

    def options(self, **kw):
        return Recording({**self.opts, **kw}, self.log)

    def remote(self, *args):
        self.log.append(self.opts)


def test_placed_handles_carry_the_options_and_the_nodes_given(clocked_ray):
    _, ray = clocked_ray
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "listed"}]
    fn = Recording()
    [plain] = placement.placed(fn, "default", name="t")
    plain.remote()
    assert fn.log[-1] == {"name": "t"}
    handles = placement.placed(fn, "affinity", ["x", "y", "x"], name="t")
    for handle in handles:
        handle.remote()
    assert [(o["scheduling_strategy"].node_id, o["name"]) for o in fn.log[-3:]] == [("x", "t"), ("y", "t"), ("x", "t")]


def test_round_robin_lists_the_nodes_once_and_keeps_them_and_its_options(clocked_ray):
    _, ray = clocked_ray
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "a"},
                     {"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "b"}]
    fn = Recording()
    robin = placement.RoundRobin(fn, "affinity", {"name": "first"})
    assert robin.node_ids == ["a", "b"]
    ray.node_list = [{"Alive": True, "Resources": {"CPU": 1.0}, "NodeID": "c"}]  # nodes change later
    renamed = robin.options(num_returns=1)
    for _ in range(2):
        renamed.remote()
    assert [(o["scheduling_strategy"].node_id, o["name"], o["num_returns"]) for o in fn.log] == [
        ("a", "first", 1), ("b", "first", 1)]
    given = placement.RoundRobin(fn, "affinity", node_ids=["p", "q"])
    given.remote()
    assert fn.log[-1]["scheduling_strategy"].node_id == "p"
    assert placement.RoundRobin(fn, "default").node_ids is None
