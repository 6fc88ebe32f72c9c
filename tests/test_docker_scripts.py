"""The appliance's container scripts, exercised on the host (no Docker engine needed)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


def _entrypoint(tmp_path, *args, **env):
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(["bash", str(REPO / "docker" / "entrypoint.sh"), *args],
                          env={**base, **env}, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("role", ["head", "worker", "driver"])
def test_entrypoint_refuses_a_missing_token_file(tmp_path, role):
    proc = _entrypoint(tmp_path, role, RAY_AUTH_MODE="token",
                       RAY_AUTH_TOKEN_PATH=str(tmp_path / "nope"), OBJECT_STORE_MEMORY="100000000")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"entrypoint: token file {tmp_path / 'nope'} is missing or not a file (the compose file's init service makes it)"]


def test_entrypoint_refuses_a_directory_where_the_token_should_be(tmp_path):
    # What Docker leaves behind when the bind-mounted token file did not exist.
    (tmp_path / "ray_token").mkdir()
    proc = _entrypoint(tmp_path, "worker", RAY_AUTH_MODE="token",
                       RAY_AUTH_TOKEN_PATH=str(tmp_path / "ray_token"), OBJECT_STORE_MEMORY="1")
    assert proc.returncode == 1 and "missing or not a file" in proc.stderr


def test_entrypoint_refuses_an_empty_token(tmp_path):
    token = tmp_path / "tok"
    token.write_text("")
    proc = _entrypoint(tmp_path, "head", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token),
                       OBJECT_STORE_MEMORY="100000000")
    assert proc.returncode == 1 and "is empty" in proc.stderr


def _init(tmp_path, token):
    import os
    return _entrypoint(tmp_path, "init", RAY_AUTH_TOKEN_PATH=str(token), APP_UID=str(os.getuid()))


def test_init_makes_a_private_random_token_once(tmp_path):
    import os
    import re
    import stat
    first, second = tmp_path / "a" / "ray_token", tmp_path / "b" / "ray_token"
    for token in (first, second):
        proc = _init(tmp_path, token)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "init: generated a new token for this deployment\n"
    a = first.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", a) and a != second.read_text()
    st = first.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    assert not list(first.parent.glob("*.new"))
    # A second `compose up` keeps the deployment's token.
    proc = _init(tmp_path, first)
    assert proc.returncode == 0 and "keeping" in proc.stdout and first.read_text() == a


@pytest.mark.parametrize("bad, message", [
    ("empty", "is empty; remove the volume (docker compose down -v)"),
    ("dir", "exists but is not a file"),
])
def test_init_refuses_a_broken_token_path_with_one_line(tmp_path, bad, message):
    token = tmp_path / "ray_token"
    token.mkdir() if bad == "dir" else token.write_text("")
    proc = _init(tmp_path, token)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr


@pytest.mark.parametrize("var, value", [("BENCH_AUTORUN", "yes"), ("EXPECT_NODES", "three"),
                                        ("BENCH_STABLE_S", "-5"), ("LOG_MONITOR", "on")])
def test_driver_refuses_bad_autorun_settings_with_one_line(tmp_path, var, value):
    proc = _entrypoint(tmp_path, "driver", OBJECT_STORE_MEMORY="100000000", **{var: value})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and var in lines[0] and f"'{value}'" in lines[0]


def test_a_driver_outside_compose_without_the_head_address_says_what_it_waits_for(tmp_path):
    # README's `docker run ... driver` without -e RAY_HEAD_ADDRESS used to wait in silence
    # for ray-head, a name that exists only inside the compose network.
    proc = _entrypoint(tmp_path, "driver", OBJECT_STORE_MEMORY="100000000", HEAD_WAIT_S="2")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("entrypoint: waiting for the Ray head at ray-head:6379 (RAY_HEAD_ADDRESS")
    assert lines[-1] == ("entrypoint: the head's name 'ray-head' does not resolve: outside the compose network, "
                         "set RAY_HEAD_ADDRESS=HOST:PORT (docker run -e RAY_HEAD_ADDRESS=HEAD:6379 ...)")
    # given an address that resolves but does not answer, the limit is the head's
    proc = _entrypoint(tmp_path, "driver", OBJECT_STORE_MEMORY="100000000", HEAD_WAIT_S="2",
                       RAY_HEAD_ADDRESS="127.0.0.1:9")
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
        "entrypoint: the head at 127.0.0.1:9 did not answer within 2 s")


def test_wait_nodes_wants_a_count_or_a_stability_window():
    for args in ([], ["2", "--stable", "5"]):
        proc = subprocess.run([sys.executable, str(REPO / "docker" / "wait_nodes.py"), *args],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and proc.stderr.strip() == "wait_nodes: give either a node count N or --stable S"


def test_entrypoint_refuses_a_malformed_object_store_size(tmp_path):
    proc = _entrypoint(tmp_path, "worker", OBJECT_STORE_MEMORY="1g")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "OBJECT_STORE_MEMORY must be a whole number, got '1g'" in proc.stderr


def test_entrypoint_defaults_the_object_store_size_as_compose_does(tmp_path):
    # README's `docker run ... driver` sets no OBJECT_STORE_MEMORY: the compose file's size applies
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "ray").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "ray-args"}; exit 3\n')
    (fake_bin / "ray").chmod(0o755)
    proc = _entrypoint(tmp_path, "head", PATH=f"{fake_bin}:/usr/bin:/bin", OBJECT_STORE_MEMORY="")
    assert proc.returncode == 3, proc.stderr
    assert "--object-store-memory=500000000" in (tmp_path / "ray-args").read_text()


def test_entrypoint_runs_any_other_command(tmp_path):
    proc = _entrypoint(tmp_path, "echo", "hello")
    assert proc.returncode == 0 and proc.stdout == "hello\n"


def test_wait_nodes_rejects_bad_arguments_before_touching_ray():
    proc = subprocess.run([sys.executable, str(REPO / "docker" / "wait_nodes.py"), "0"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "nodes must be >= 1" in proc.stderr




@pytest.mark.parametrize("dashboard, monitor", [("0", False), ("1", True)])
def test_head_runs_the_autoscaler_monitor_only_with_the_dashboard(tmp_path, dashboard, monitor):
    # a fake `ray` records how the head was started, then fails, which ends the entrypoint
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "ray").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "ray-args"}; exit 3\n')
    (fake_bin / "ray").chmod(0o755)
    proc = _entrypoint(tmp_path, "head", PATH=f"{fake_bin}:/usr/bin:/bin", OBJECT_STORE_MEMORY="100000000",
                       DASHBOARD=dashboard)
    assert proc.returncode == 3
    start = (tmp_path / "ray-args").read_text().splitlines()[0]
    assert start.startswith("start --head ") and f"--include-dashboard={'true' if monitor else 'false'}" in start
    assert ("--no-monitor" in start.split()) is not monitor
