"""The README's quickstart as a new user runs it: a fresh clone, the image, then only

    docker compose up -d --scale ray-worker=3

under Compose v2 (the pinned binary from `make compose-v2`, used as a Docker CLI plugin)
and under docker-compose 1.29. The init service makes the token, the bench container runs
the suite from SUITE by itself once the workers have joined, and `down -v` leaves nothing.
"""
from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from docker_helpers import (REPO, clean_env, compose_command, containers, dexec, docker_unavailable_reason,
                            free_port, inspect, make, networks, run, volumes)

WORKERS = 3
AUTORUN_DEADLINE_S = 1800  # a bound for a hung run, not a performance claim


def fresh_clone(dest: Path) -> Path:
    """The checkout's files as a clone would have them (tracked and new, nothing ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def every_worker_ran_tasks(results: dict) -> dict[str, float]:
    """CPU-seconds per CPU node over the Ray runs, from the per-node resource samples."""
    cpu_nodes = {n["node_id"] for n in results["cluster"]["nodes"] if n["alive"] and n["cpus"] > 0}
    busy = dict.fromkeys(cpu_nodes, 0.0)
    for r in results["runs"]:
        if not r["mode"].startswith("ray-"):
            continue
        for node_id, res in (r.get("resources") or {}).items():
            if node_id in busy:
                busy[node_id] += sum(s[1] for s in res["samples"]) / 100 * res["interval_s"]
    return busy


@pytest.fixture(scope="module", autouse=True)
def image():
    why = docker_unavailable_reason()
    if why:
        pytest.skip(why)
    make("ensure-image", timeout=2400, check=True)


@pytest.mark.docker
@pytest.mark.parametrize("flavour", ["v2", "v1"])
def test_compose_up_alone_runs_the_suite_on_every_worker(flavour, tmp_path):
    compose, env = compose_command(flavour, tmp_path)
    clone = fresh_clone(tmp_path / "clone")
    assert not (clone / ".env").exists() and not (clone / "secrets").exists()
    project = f"rbquick{flavour}{secrets.token_hex(3)}"
    # A new user's shell: none of what `make test` exports (RESULTS_DIR would otherwise point
    # the clone's bench container at the checkout's results/).
    for name in ("APP_UID", "IMAGE", "BASE_IMAGE", "RESULTS_DIR", "REPORTS_DIR", "HEAD_CPUS", "DASHBOARD_PORT",
                 "COMPOSE_PROJECT_NAME", "DOCKER_BUILDKIT"):
        env.pop(name, None)
    env.update(COMPOSE_PROJECT_NAME=project, DASHBOARD_PORT=str(free_port()), SUITE="quick")

    def dc(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([*compose, *args], cwd=clone, env=env, capture_output=True, text=True,
                              timeout=timeout)

    try:
        up = dc("up", "-d", "--scale", f"ray-worker={WORKERS}")
        assert up.returncode == 0, up.stdout + up.stderr
        bench = containers(project, "bench")[0]
        deadline = time.monotonic() + AUTORUN_DEADLINE_S
        while dexec(bench, "test", "-e", "/tmp/bench-autorun.done").returncode != 0:
            state = inspect(bench)["State"]
            assert state["Running"], f"bench exited {state['ExitCode']}:\n{dc('logs').stdout[-6000:]}"
            assert time.monotonic() < deadline, f"no autorun result:\n{dc('logs', 'bench').stdout[-6000:]}"
            time.sleep(5)
        logs = dc("logs", "--no-color", "bench").stdout
        assert dexec(bench, "cat", "/tmp/bench-autorun.done").stdout.strip() == "0", logs[-6000:]
        assert f"autorun: {WORKERS} CPU node(s) joined" in logs
        assert "autorun: finished (exit 0)" in logs

        files = list((clone / "results").glob("quick-*.json"))
        assert len(files) == 1, files
        results = json.loads(files[0].read_text())
        assert results["status"] == "complete"
        assert results["runs"] and all(r["correct"] is True for r in results["runs"])
        alive = [n for n in results["cluster"]["nodes"] if n["alive"]]
        assert sorted(n["cpus"] for n in alive) == [0, 0] + [1] * WORKERS  # head, driver, workers
        busy = every_worker_ran_tasks(results)
        assert len(busy) == WORKERS
        # An idle node's raylet costs a few percent; a worker that took tasks is far above that.
        assert min(busy.values()) > 0.1 * max(busy.values()) > 0, busy
        assert (clone / "reports" / "index.html").stat().st_size > 0

        # The token: made by init in the volume, private to the container user, in no env.
        head = containers(project, "ray-head")[0]
        token = dexec(head, "cat", "/run/secrets/ray_token").stdout
        assert re.fullmatch(r"[0-9a-f]{64}", token)
        assert dexec(head, "stat", "-c", "%a %u", "/run/secrets/ray_token").stdout.split() == ["600", "1000"]
        for cid in containers(project):
            assert token not in json.dumps(inspect(cid))
        assert volumes(project), "the token volume"
        # The quiet defaults: no dashboard modules or autoscaler monitor on the head (DASHBOARD=0), Ray's memory
        # monitor and metrics off on every node, and nodes kept alive by a watcher that
        # forks nothing (no `ray start --block` loop, no `sleep` every 2 s).
        head_procs = dexec(head, "bash", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
        assert "raylet" in head_procs and "gcs_server" in head_procs
        assert "ray-dashboard-" not in head_procs and "--block" not in head_procs
        assert not re.search(r"autoscaler/\S*monitor\.py", head_procs)  # no autoscaler monitor without DASHBOARD=1
        # nor the two services `ray start --head` always starts: the Ray Client server and the
        # dashboard process (only its usage-stats module without the dashboard; usage stats are off)
        assert " -m ray.util.client.server " not in head_procs and "/ray/dashboard/dashboard.py " not in head_procs
        for cid in containers(project, "ray-worker") + [head]:
            node_env = dict(e.split("=", 1) for e in inspect(cid)["Config"]["Env"])
            assert node_env["RAY_memory_monitor_refresh_ms"] == "0" and node_env["RAY_enable_metrics_collection"] == "0"
            # the three timers that were a fifth of the idle cluster's wake-ups at Ray's defaults
            assert node_env["RAY_object_manager_timer_freq_ms"] == "1000"
            assert node_env["RAY_kill_idle_workers_interval_ms"] == "1000"
            assert node_env["RAY_gcs_pull_resource_loads_period_milliseconds"] == "5000"
            assert "tail --pid=" in dexec(cid, "bash", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
        # Ray's folder in memory on every Ray node: a worker writes and stats its log files on
        # every task, which on a FUSE storage driver was a daemon round trip each time.
        for cid in containers(project, "ray-worker") + [head, bench]:
            assert dexec(cid, "stat", "-f", "-c", "%T", "/tmp/ray/session_latest/logs").stdout.strip() == "tmpfs"
        # Still the driver: another run can be exec'd (no second automatic run starts).
        assert dexec(bench, "python", "-m", "bench", "--help").returncode == 0
    finally:
        down = dc("down", "-v", "--remove-orphans")
    assert down.returncode == 0, down.stderr
    assert containers(project) == [] and networks(project) == [] and volumes(project) == []
