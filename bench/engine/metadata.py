"""Best-effort environment collectors: each returns a value or None, never raises."""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from bench import __version__
from bench.engine.samplers import cgroup_limits, shm_bytes
from bench.format import utc_now


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def boot_id_sha256() -> str | None:
    """The kernel boot this ran in, hashed (16 hex digits): containers see their host's, so two files
    with the same one ran on one machine in one boot, however far apart their machine probes."""
    try:
        raw = BOOT_ID_PATH.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return hashlib.sha256(raw.encode()).hexdigest()[:16] if raw else None


def _git_dirty() -> bool | None:
    """Whether the tracked files differed from the commit: the image records it at build time."""
    if os.environ.get("BENCH_GIT_DIRTY") in ("0", "1"):
        return os.environ["BENCH_GIT_DIRTY"] == "1"
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                             cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def _git_commit() -> str | None:
    # The image records the commit it was built from (Dockerfile: BENCH_GIT_COMMIT).
    if os.environ.get("BENCH_GIT_COMMIT") not in (None, "", "unknown"):
        return os.environ["BENCH_GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def environment_physical_cores() -> int | None:
    """For metadata: the host's physical cores (psutil), None when it cannot tell."""
    try:
        return psutil.cpu_count(logical=False)
    except Exception:
        return None


def environment_virtualization() -> str | None:
    """'container in a VM' / 'container' / 'VM' / 'bare metal', as far as /proc tells."""
    try:
        vm = " hypervisor" in open("/proc/cpuinfo").read()
    except OSError:
        vm = None
    container = os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")
    if vm is None:
        return "container" if container else None
    return {(True, True): "container in a VM", (True, False): "container",
            (False, True): "VM", (False, False): "bare metal"}[(container, vm)]


def collect(argv: list[str] | None = None) -> dict:
    """Metadata recorded at the top of every results file."""
    limits = cgroup_limits()
    return {
        "bench_version": __version__,
        "ray_version": _version("ray"),
        "python_version": platform.python_version(),
        "numpy_version": _version("numpy"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": int(psutil.virtual_memory().total),
        "cgroup_cpu_limit": limits["cpu_limit"],
        "cgroup_memory_limit_bytes": limits["memory_limit_bytes"],
        "shm_bytes": shm_bytes(),
        "git_commit": _git_commit(),
        "git_dirty": _git_dirty(),
        "physical_cores": environment_physical_cores(),
        "virtualization": environment_virtualization(),
        "boot_id_sha256": boot_id_sha256(),
        "image": os.environ.get("BENCH_IMAGE"),
        "image_id": os.environ.get("BENCH_IMAGE_ID"),
        "command_line": shlex.join([Path(sys.executable).name, "-m", "bench", *(argv if argv is not None else sys.argv[1:])]),
        "started_utc": utc_now(),
    }
