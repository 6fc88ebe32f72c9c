"""docker-compose.yml as both Compose versions read it (`config`: no engine, no containers)."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from docker_helpers import REPO, compose_command, docker_unavailable_reason


@pytest.mark.docker
@pytest.mark.parametrize("flavour", ["v2", "v1"])
def test_both_composes_read_the_file_without_warnings(flavour, tmp_path):
    if docker_unavailable_reason():
        pytest.skip(docker_unavailable_reason())
    cmd, env = compose_command(flavour, tmp_path)
    env.update(COMPOSE_PROJECT_NAME="rbconfig")
    proc = subprocess.run([*cmd, "-f", str(REPO / "docker-compose.yml"), "config"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # No "version is obsolete" (v2) nor any other warning.
    assert "WARN" not in proc.stderr.upper(), proc.stderr
    config = yaml.safe_load(proc.stdout)
    services = config["services"]
    assert set(services) == {"init", "ray-head", "ray-worker", "bench"}
    for name in ("ray-head", "ray-worker", "bench"):
        assert services[name]["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert "container_name" not in services[name]
    # Ray's folder in memory on every Ray node, at the size .env can change.
    for name in ("ray-head", "ray-worker", "bench"):
        assert services[name]["tmpfs"] == ["/tmp:exec,mode=1777,size=512m"], services[name].get("tmpfs")
    worker = services["ray-worker"]
    assert float(worker["cpus"]) == 1 and worker["shm_size"] and worker["mem_limit"]
    # Only the bench service is health-checked (the others wait on the head by themselves).
    assert [n for n, s in services.items() if "healthcheck" in s] == ["bench"]
    # each check is a runc exec, ~50 ms of CPU: 30 s apart (make up runs it itself every second)
    assert services["bench"]["healthcheck"]["interval"] == "30s"
    assert "version" not in yaml.safe_load((REPO / "docker-compose.yml").read_text())
    # Only the dashboard is published, on loopback, at a port Docker picks unless
    # DASHBOARD_PORT is set: a second appliance on the host must not clash over it.
    [port] = services["ray-head"]["ports"]
    as_text = port if isinstance(port, str) else f"{port['host_ip']}:{port.get('published', '')}:{port['target']}"
    assert as_text.removesuffix("/tcp") == "127.0.0.1::8265", port
    assert all("ports" not in s for n, s in services.items() if n != "ray-head")
