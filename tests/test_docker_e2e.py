"""End-to-end test of the Docker appliance: image, compose cluster, bench run, auth.

Builds the image the way this machine allows (`make image` falls back to the offline
debootstrap + wheelhouse path when no registry answers), starts a head and 2 workers
under a unique compose project with Compose v2 (the pinned `make compose-v2` binary, so
`make up` asks the bench container's health check directly), runs the quick suite in the bench container, checks sizing,
auth and exposure, and always tears the project down. test_compose_quickstart.py runs
plain `compose up` under both v2 and docker-compose 1.29.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from bench.results import SCHEMA_VERSION
from docker_helpers import (REPO, clean_env, compose_v2, containers, owned_dir, dexec, docker_unavailable_reason,
                            free_port, inspect, make, networks, run, size_bytes, volumes)

WORKERS = 2
OBJECT_STORE = 1_000_000_000
SHM = "1200m"
APP_UID = 1000
SHM_FALLBACK_WARNING = "instead of /dev/shm"


@pytest.fixture(scope="module")
def appliance(tmp_path_factory):
    why = docker_unavailable_reason()
    if why:
        pytest.skip(why)
    work = tmp_path_factory.mktemp("appliance")
    project = f"raybenche2e{secrets.token_hex(4)}"
    port = free_port()
    ctx = {
        "project": project,
        "port": port,
        "results": owned_dir(work / "results"),
        "reports": owned_dir(work / "reports"),
    }
    ctx["vars"] = [
        f"COMPOSE_PROJECT_NAME={project}",
        f"COMPOSE={compose_v2()}",
        f"RESULTS_DIR={ctx['results']}",
        f"REPORTS_DIR={ctx['reports']}",
        f"DASHBOARD_PORT={port}",
        "DASHBOARD=1",  # the full dashboard, so that its loopback-only page can be fetched
        f"OBJECT_STORE_MEMORY={OBJECT_STORE}",
        f"SHM_SIZE={SHM}",
        "HEAD_CPUS=0",
        "WORKER_CPUS=1",
        f"WORKERS={WORKERS}",
    ]
    ctx["env"] = clean_env(COMPOSE_PROJECT_NAME=project)

    # Current after `make test` built it; on its own this is the full offline build.
    make("ensure-image", timeout=2400, env=ctx["env"], check=True)
    try:
        start = time.monotonic()
        up = make("up", *ctx["vars"], timeout=600, env=ctx["env"])
        ctx["up_seconds"] = time.monotonic() - start
        if up.returncode != 0:
            logs = make("logs", *ctx["vars"], timeout=120, env=ctx["env"])
            pytest.fail(f"make up failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}\n"
                        f"--- logs\n{logs.stdout[-6000:]}")
        ctx["head"] = containers(project, "ray-head")[0]
        ctx["workers"] = containers(project, "ray-worker")
        ctx["bench"] = containers(project, "bench")[0]
        ctx["token"] = dexec(ctx["head"], "cat", "/run/secrets/ray_token").stdout
        figures = REPO / "build" / "e2e-figures.json"
        figures.parent.mkdir(exist_ok=True)
        figures.write_text(json.dumps({"up_to_all_alive_s": round(ctx["up_seconds"], 1),
                                       "workers": WORKERS}))
        yield ctx
    finally:
        make("down", *ctx["vars"], timeout=300, env=ctx["env"])


@pytest.mark.docker
def test_quick_suite_runs_correct_on_all_worker_nodes(appliance):
    proc = make("bench", "SUITE=quick", "NAME=e2e", *appliance["vars"], timeout=1500,
                env=appliance["env"])
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = json.loads((appliance["results"] / "e2e.json").read_text())
    assert results["schema_version"] == SCHEMA_VERSION
    nodes = [n for n in results["cluster"]["nodes"] if n["alive"]]
    cpu_nodes = [n for n in nodes if n["cpus"] > 0]
    assert len(cpu_nodes) == WORKERS
    assert all(n["cpus"] == 1 for n in cpu_nodes)
    heads = [n for n in nodes if n["is_head"]]
    assert len(heads) == 1 and heads[0]["cpus"] == 0
    # head + workers + the bench driver's own 0-CPU raylet
    assert len(nodes) == WORKERS + 2
    for n in cpu_nodes:
        assert n["object_store_memory_bytes"] == OBJECT_STORE
    # every node's raylet draws a lease it cannot grant from all nodes (the compose file's
    # setting, read by a task on each node): no pile-up onto one busy worker, no warning
    lease = results["cluster"]["lease_placement"]
    assert all(n["known"] and n["top_k_fraction"] == 1.0 for n in lease["per_node"])
    assert lease["fewest_candidates"] == len(nodes) and "warning" not in lease
    # the cluster's history is recorded, for bench repro to name (the GCS job table, private API)
    assert isinstance(results["cluster"]["earlier_jobs"], int) and results["cluster"]["earlier_jobs"] >= 0
    assert results["runs"], "the quick suite produced no runs"
    bad = [(r["mode"], r.get("params")) for r in results["runs"] if r.get("correct") is not True]
    assert not bad, f"runs not correct: {bad}"
    # the driver's node has no CPUs, so ray-auto keeps each task's objects inline-sized
    auto = next(r for r in results["runs"] if r["mode"] == "ray-auto")["params"]
    assert auto["probe"]["tasks_leave_driver_node"] is True
    assert 0 < auto["batch_size"] <= auto["probe"]["max_lookups_inline"] < auto["probe"]["inline_object_bytes"] // 8
    assert results["metadata"].get("image") == os.environ.get("IMAGE", "ray-granularity-bench:local")


@pytest.mark.docker
def test_worker_shm_holds_the_object_store(appliance):
    want = size_bytes(SHM)
    assert want >= 1.1 * OBJECT_STORE
    assert len(appliance["workers"]) == WORKERS
    for cid in appliance["workers"]:
        df = dexec(cid, "df", "-B1", "--output=size", "/dev/shm")
        assert df.returncode == 0, df.stderr
        assert int(df.stdout.split()[-1]) >= want
        # The raylet maps its plasma file from /dev/shm, not from the /tmp fallback.
        maps = dexec(cid, "bash", "-c", 'for d in /proc/[0-9]*; do '
                     '[ "$(cat $d/comm 2>/dev/null)" = raylet ] && cat $d/maps; done')
        assert "/dev/shm/plasma" in maps.stdout
        assert "/tmp/ray/session" not in "".join(
            line for line in maps.stdout.splitlines() if "plasma" in line)
        raylog = dexec(cid, "bash", "-c", "cat /tmp/ray/session_latest/logs/raylet.out")
        assert SHM_FALLBACK_WARNING not in raylog.stdout
    for cid in [appliance["head"], appliance["bench"], *appliance["workers"]]:
        logs = run(["docker", "logs", cid], timeout=60)
        assert SHM_FALLBACK_WARNING not in logs.stdout + logs.stderr


def _driver(bench: str, env: dict[str, str], *, unset_auth: bool = False):
    script = ("import ray; ray.init(address='ray-head:6379', logging_level='ERROR'); "
              "print('CPUS', ray.cluster_resources().get('CPU'))")
    prefix = ["env", "-u", "RAY_AUTH_MODE", "-u", "RAY_AUTH_TOKEN_PATH"] if unset_auth else []
    return dexec(bench, *prefix, "timeout", "150", "python", "-c", script, env=env, timeout=200)


@pytest.mark.docker
def test_token_auth_refuses_drivers_without_the_token(appliance):
    bench = appliance["bench"]
    ok = _driver(bench, {})
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert f"CPUS {float(WORKERS)}" in ok.stdout

    # No token, or a wrong one: the GCS answers InvalidAuthToken until ray.init gives up.
    wrong = dexec(bench, "bash", "-c", "umask 077; printf %s deadbeef > /tmp/wrong_token")
    assert wrong.returncode == 0
    for refused in (_driver(bench, {}, unset_auth=True),
                    _driver(bench, {"RAY_AUTH_TOKEN_PATH": "/tmp/wrong_token"})):
        assert refused.returncode == 1, refused.stderr[-2000:]
        assert "InvalidAuthToken: Authentication token is missing or incorrect" in refused.stderr
        assert refused.stderr.rstrip().endswith("ConnectionError: Failed to connect to Ray cluster at ray-head:6379")

    # Auth on but the file missing: refused at once, before any connection.
    missing = _driver(bench, {"RAY_AUTH_TOKEN_PATH": "/tmp/no_such_token"})
    assert missing.returncode == 1
    assert ("ray.exceptions.AuthenticationError: RAY_AUTH_TOKEN_PATH is set but file cannot be opened "
            "or is empty: /tmp/no_such_token.") in missing.stderr


@pytest.mark.docker
def test_token_is_a_private_file_and_never_in_inspect(appliance):
    token = appliance["token"]
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    for cid in [appliance["head"], appliance["bench"], *appliance["workers"]]:
        info = inspect(cid)
        assert token not in json.dumps(info)
        assert not any(e.startswith("RAY_AUTH_TOKEN=") for e in info["Config"]["Env"])
        assert "RAY_AUTH_MODE=token" in info["Config"]["Env"]
        perm = dexec(cid, "stat", "-c", "%a %u", "/run/secrets/ray_token")
        assert perm.stdout.split() == ["600", str(APP_UID)]


@pytest.mark.docker
def test_image_holds_no_token_and_runs_as_non_root(appliance):
    image = inspect(appliance["head"])["Config"]["Image"]
    found = run(["docker", "run", "--rm", "--user", "0", "--entrypoint", "sh", image, "-c",
                 "find / -xdev \\( -name auth_token -o -name ray_token \\) -print; ls -a /root /home/ray"],
                timeout=180)
    assert found.returncode == 0, found.stderr
    assert "auth_token" not in found.stdout and "ray_token" not in found.stdout
    assert ".ray" not in found.stdout.split()
    history = run(["docker", "history", "--no-trunc", image], timeout=60).stdout
    assert appliance["token"] not in history
    config = inspect(image)["Config"]
    assert config["User"] in ("ray", str(APP_UID))  # by name or by uid, never root
    assert "RAY_USAGE_STATS_ENABLED=0" in config["Env"]
    assert config["Labels"]["org.opencontainers.image.title"] == "ray-granularity-bench"
    for cid in [appliance["head"], appliance["bench"], *appliance["workers"]]:
        assert dexec(cid, "id", "-u").stdout.strip() == str(APP_UID)


def _stream_contains(cmd: list[str], needle: bytes, timeout: float) -> bool:
    """Whether `needle` occurs anywhere in a command's (large) stdout, read in chunks."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    found, tail = False, b""
    try:
        while chunk := proc.stdout.read(1 << 20):
            if needle in tail + chunk:
                found = True
                break
            tail = chunk[-len(needle):]
    finally:
        proc.kill()
        proc.wait(timeout=timeout)
    return found


@pytest.mark.docker
def test_a_token_in_the_checkout_never_reaches_an_image_layer(appliance):
    # The deployment's token exists first, a copy sits in the build context where the old
    # design kept it, and the image is rebuilt; then every layer is searched for it. The
    # layer cache keys COPY on file contents, so a token the build copied would be a new layer.
    token = appliance["token"]
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    leak = REPO / "secrets" / f"{appliance['project']}.ray_token"
    leak.parent.mkdir(exist_ok=True)
    leak.write_text(token)
    tag = f"ray-granularity-bench:tokencheck-{appliance['project']}"
    base = inspect(os.environ.get("IMAGE", "ray-granularity-bench:local"))["Config"]["Labels"][
        "org.opencontainers.image.base.name"]
    try:
        make("image-build", f"IMAGE={tag}", f"BUILD_BASE={base}", timeout=2400, env=appliance["env"], check=True)
        assert not _stream_contains(["docker", "save", tag], token.encode(), timeout=60)
        # The search itself works: the same token written into a container's layer is found.
        probe = run(["docker", "run", "--name", f"{appliance['project']}-probe", "--entrypoint", "sh", tag,
                     "-c", f"printf %s {token} > /tmp/planted"], timeout=180)
        assert probe.returncode == 0, probe.stderr
        assert _stream_contains(["docker", "export", f"{appliance['project']}-probe"], token.encode(), timeout=60)
    finally:
        leak.unlink()
        run(["docker", "rm", "-f", f"{appliance['project']}-probe"], timeout=60)
        run(["docker", "rmi", tag], timeout=120)


@pytest.mark.docker
def test_containers_are_hardened_and_head_detects_death_fast(appliance):
    for cid in [appliance["head"], appliance["bench"], *appliance["workers"]]:
        host = inspect(cid)["HostConfig"]
        assert host["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["Init"] is True
    env = inspect(appliance["head"])["Config"]["Env"]
    for setting in ("RAY_health_check_period_ms=1000", "RAY_health_check_timeout_ms=2000",
                    "RAY_health_check_failure_threshold=3", "RAY_health_check_initial_delay_ms=1000"):
        assert setting in env


@pytest.mark.docker
def test_idle_nodes_run_no_log_monitor_only_the_head_a_monitor_and_only_bench_a_health_check(appliance):
    for cid in [appliance["head"], appliance["bench"], *appliance["workers"]]:
        procs = dexec(cid, "bash", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
        assert "raylet" in procs.stdout and "log_monitor" not in procs.stdout
        # this cluster runs DASHBOARD=1, which brings the head its autoscaler monitor (for `ray status`);
        # no other node ever runs one (the default, DASHBOARD=0, is checked in test_compose_quickstart)
        assert bool(re.search(r"autoscaler/\S*monitor\.py", procs.stdout)) == (cid == appliance["head"])
        # ... and keeps the head's Ray Client server and dashboard process, which DASHBOARD=0 stops
        assert (" -m ray.util.client.server " in procs.stdout) == (cid == appliance["head"])
        assert ("/ray/dashboard/dashboard.py " in procs.stdout) == (cid == appliance["head"])
        has_check = inspect(cid)["Config"].get("Healthcheck") is not None
        assert has_check == (cid == appliance["bench"])


@pytest.mark.docker
def test_dashboard_is_published_on_loopback_only(appliance):
    ports = inspect(appliance["head"])["NetworkSettings"]["Ports"]
    assert ports["8265/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(appliance["port"])}]
    published = {k: v for k, v in ports.items() if v}
    assert list(published) == ["8265/tcp"]
    for cid in [appliance["bench"], *appliance["workers"]]:
        assert not any(inspect(cid)["NetworkSettings"]["Ports"].values())
    with urllib.request.urlopen(f"http://127.0.0.1:{appliance['port']}/", timeout=30) as resp:
        assert resp.status == 200


@pytest.mark.docker
def test_down_removes_containers_networks_volumes_and_token(appliance):
    # Runs last in this module; the fixture's own `down` then finds nothing to do.
    project = appliance["project"]
    assert containers(project) and networks(project)
    make("down", *appliance["vars"], timeout=300, env=appliance["env"], check=True)
    assert containers(project) == []
    assert networks(project) == []
    assert volumes(project) == []  # the token's volume included
