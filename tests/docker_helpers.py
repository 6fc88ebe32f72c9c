"""Helpers for the Docker end-to-end tests: run make/docker, list project resources."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from appliance import compose_filters  # noqa: E402  (scripts/ is not a package)
from appliance import containers as _appliance_containers  # noqa: E402


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment minus an outer make's state, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    env.update(extra)
    return env


def run(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None,
        check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=REPO, env=env or clean_env(), capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}")
    return proc


def make(*args: str, timeout: float = 600, env: dict[str, str] | None = None,
         check: bool = False) -> subprocess.CompletedProcess:
    return run(["make", "--no-print-directory", *args], timeout=timeout, env=env, check=check)


def docker_unavailable_reason() -> str | None:
    """None when the engine, a compose and make are usable; otherwise why not."""
    if shutil.which("docker") is None:
        return "docker CLI not installed"
    if shutil.which("make") is None:
        return "make not installed"
    try:
        if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
            return "docker engine not reachable"
        v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker not usable: {exc}"
    if v2.returncode != 0 and shutil.which("docker-compose") is None:
        return "neither `docker compose` nor docker-compose is installed"
    return None


APP_UID = 1000  # the image's non-root user


def owned_dir(path: Path) -> Path:
    """A host folder the containers' user can write (results, reports)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, APP_UID, APP_UID)
    else:
        path.chmod(0o777)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ids(kind: str, project: str, service: str | None = None) -> list[str]:
    # The label filter is the appliance's own (scripts/appliance.py), not a copy.
    cmd = ["docker", kind, "ls" if kind != "container" else "ps", "-q", *compose_filters(project, service)]
    if kind == "container":
        cmd.insert(3, "-a")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    return out.split()


def containers(project: str, service: str | None = None) -> list[str]:
    return _ids("container", project, service)


def running_containers(project: str, service: str) -> list[str]:
    """What the Makefile and chaos.py see: the service's running containers."""
    return _appliance_containers(service, project)


def networks(project: str) -> list[str]:
    return _ids("network", project)


def volumes(project: str) -> list[str]:
    return _ids("volume", project)


def inspect(obj_id: str) -> dict:
    out = subprocess.run(["docker", "inspect", obj_id], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return json.loads(out)[0]


def dexec(container: str, *cmd: str, timeout: float = 120, user: str | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    args = ["docker", "exec"]
    if user:
        args += ["--user", user]
    for k, v in (env or {}).items():
        args += ["-e", f"{k}={v}"]
    return subprocess.run([*args, container, *cmd], capture_output=True, text=True,
                          timeout=timeout)


def size_bytes(docker_size: str) -> int:
    """Docker's size notation (600m, 2g, 1200000b) in bytes; units are powers of 1024."""
    units = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    s = docker_size.strip().lower()
    if s[-1] in units:
        return int(float(s[:-1]) * units[s[-1]])
    return int(s)


COMPOSE_V2 = REPO / "build" / "compose" / "docker-compose"


def compose_v2() -> Path:
    """The pinned Compose v2 binary (`make compose-v2`, which `make test` runs)."""
    if not COMPOSE_V2.exists():
        make("compose-v2", timeout=600, check=True)
    return COMPOSE_V2


def compose_command(flavour: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
    """How a user runs Compose: v2 as the `docker compose` plugin, v1 as docker-compose."""
    import pytest

    env = clean_env()
    if flavour == "v2":
        plugins = tmp / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        (plugins / "docker-compose").symlink_to(compose_v2())
        env["DOCKER_CONFIG"] = str(plugins.parent)
        cmd = ["docker", "compose"]
    else:
        if shutil.which("docker-compose") is None:
            pytest.skip("docker-compose (v1) not installed")
        cmd = ["docker-compose"]
    version = subprocess.run([*cmd, "version", "--short"], env=env, capture_output=True, text=True,
                             timeout=60).stdout.strip().lstrip("v")
    if not version.startswith("2." if flavour == "v2" else "1."):
        pytest.skip(f"{' '.join(cmd)} is version '{version}', not Compose {flavour}")
    return cmd, env
