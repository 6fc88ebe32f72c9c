"""Faults on the real compose cluster: a killed worker loses nothing, a killed head fails cleanly.

Its own compose project (3 workers), so the kills never disturb the other e2e module.
`make chaos` is exercised as a user runs it; the head scenario goes through the same
scripts/chaos.py that `make chaos-head` uses.
"""
from __future__ import annotations

import json
import re
import secrets

import pytest

from docker_helpers import (REPO, clean_env, compose_v2, docker_unavailable_reason, free_port, make, owned_dir, run,
                            running_containers)

WORKERS = 3
DETECTION_BUDGET_S = 15


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = docker_unavailable_reason()
    if why:
        pytest.skip(why)
    work = tmp_path_factory.mktemp("faults")
    project = f"raybenchfault{secrets.token_hex(4)}"
    ctx = {"project": project, "results": owned_dir(work / "results"), "reports": owned_dir(work / "reports")}
    ctx["vars"] = [
        f"COMPOSE_PROJECT_NAME={project}", f"COMPOSE={compose_v2()}",
        f"RESULTS_DIR={ctx['results']}", f"REPORTS_DIR={ctx['reports']}", f"DASHBOARD_PORT={free_port()}",
        "HEAD_CPUS=0", "WORKER_CPUS=1", f"WORKERS={WORKERS}",
    ]
    ctx["env"] = clean_env(COMPOSE_PROJECT_NAME=project)
    make("ensure-image", timeout=2400, env=ctx["env"], check=True)
    try:
        make("up", *ctx["vars"], timeout=600, env=ctx["env"], check=True)
        yield ctx
    finally:
        make("down", *ctx["vars"], timeout=300, env=ctx["env"])


@pytest.mark.docker
def test_killed_worker_loses_no_answer(cluster):
    proc = make("chaos", "CHAOS_NAME=worker-kill", *cluster["vars"], timeout=900, env=cluster["env"])
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    data = json.loads((cluster["results"] / "worker-kill.json").read_text())
    assert data["status"] == "complete"
    assert data["runs"] and all(run["correct"] for run in data["runs"])
    hit = [r for r in data["runs"] if r["faults"]]
    assert len(hit) == 1, "exactly one run saw the injected kill"
    run_ = hit[0]
    assert run_["mode"] in ("ray-naive", "ray-batched")
    assert run_["nodes_start"]["alive_with_cpus"] == WORKERS
    assert run_["nodes_end"]["alive_with_cpus"] == WORKERS - 1
    lost = [e for e in run_["node_events"] if e["event"] == "node_lost"]
    assert len(lost) == 1 and lost[0]["cpus"] == 1
    # the head's tuned health checks see the crash quickly, and the results say how quickly
    assert len(run_["loss_detection_s"]) == 1
    assert 0 <= run_["loss_detection_s"][0] <= DETECTION_BUDGET_S
    report = cluster["reports"] / "chaos" / "index.html"
    html = report.read_text()
    assert "node lost" in html.lower()
    assert run_["label"] in html


SWEEP = (100, 1000, 10000)


@pytest.mark.docker
def test_chaos_sweep_costs_a_failure_at_each_batch_size(cluster):
    # Runs after the single-worker kill (one worker down): the sweep starts it again itself.
    proc = make("chaos-sweep", "CHAOS_NAME=cost", f"CHAOS_BATCH_SIZES={','.join(map(str, SWEEP))}", *cluster["vars"],
                timeout=1800, env=cluster["env"])
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    summary = json.loads(next(line for line in reversed(proc.stdout.splitlines()) if line.startswith('{"scenario"')))
    assert summary["problems"] == [] and [p["batch_size"] for p in summary["points"]] == list(SWEEP)
    queries = summary["queries"]
    for batch in SWEEP:
        data = json.loads((cluster["results"] / f"cost-sweep-B{batch}.json").read_text())
        assert data["status"] == "complete" and all(r["correct"] for r in data["runs"]), batch
        costs = [(r, c) for r in data["runs"] for c in r.get("fault_cost") or ()]
        assert len(costs) == 1, (batch, costs)  # one fault per B, in B's own run
        run_, cost = costs[0]
        assert run_["params"]["batch_size"] == batch and cost["batch_size"] == batch
        assert run_["nodes_start"]["alive_with_cpus"] == WORKERS  # the sweep restored the killed worker
        assert cost["landed"] == "in trial" and cost["trial"] == len(run_["samples"]["response_s"]) - 1
        assert cost["trial_correct"] is True
        assert cost["task_events"]["available"], cost["task_events"]
        assert cost["task_events"]["tasks_seen"] == queries // batch
        # the killed worker was running a task: Ray ran it again, whole batches of B
        assert cost["tasks_retried"] >= 1 and cost["lookups_re_executed"] > 0
        assert cost["lookups_re_executed"] % batch == 0
        assert cost["lookups_re_executed"] == batch * cost["retries"]
        assert cost["recovery_s"] > 0 and cost["slowdown"] > 0 and cost["clean_trials"] == 2
    html = (cluster["reports"] / "chaos-sweep" / "index.html").read_text()
    assert 'data-chart="failure-cost"' in html and 'aria-label="failure-cost"' in html
    assert 'data-answers-ok="true"' in html
    assert sorted(int(b) for b in re.findall(r'<tr data-batch-size="(\d+)" data-measured="true"', html)) == list(SWEEP)
    assert len(running_containers(cluster["project"], "ray-worker")) == WORKERS


@pytest.mark.docker
def test_killed_head_fails_in_one_line_and_keeps_results(cluster):
    env = {**cluster["env"], "COMPOSE": _compose()}
    workers_left = len(running_containers(cluster["project"], "ray-worker"))
    proc = run(["python3", "scripts/chaos.py", "head", "--project", cluster["project"], "--compose", env["COMPOSE"],
                "--results-dir", str(cluster["results"]), "--name", "head-kill",
                "--expect-nodes", str(workers_left)], timeout=600, env=env)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["bench_exit"] == 1
    assert summary["seconds_from_kill_to_exit"] <= 60
    assert len(summary["stderr_lines"]) == 1, summary["stderr_lines"]
    assert summary["stderr_lines"][0].startswith("bench: error: lost the Ray head")
    assert "Traceback" not in proc.stdout
    data = json.loads((cluster["results"] / "head-kill.json").read_text())  # valid, never truncated
    assert data["status"] == "incomplete" and "lost the Ray head" in data["incomplete_reason"]
    leftovers = [p.name for p in cluster["results"].iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def _compose() -> str:
    return str(compose_v2())


@pytest.mark.docker
def test_chaos_script_refuses_without_a_cluster(tmp_path):
    env = clean_env(COMPOSE_PROJECT_NAME=f"nosuch{secrets.token_hex(3)}")
    if docker_unavailable_reason():
        pytest.skip("docker not usable")
    proc = run(["python3", str(REPO / "scripts" / "chaos.py"), "worker", "--results-dir", str(tmp_path),
                "--expect-nodes", "2"], timeout=60, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("chaos: no running bench container")
