"""Best-effort environment collectors: each returns a value or None, never raises."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from bench import __version__
from bench.samplers import cgroup_limits, shm_bytes


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git_commit() -> str | None:
    if os.environ.get("BENCH_GIT_COMMIT"):
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


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


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
        "image": os.environ.get("BENCH_IMAGE"),
        "image_id": os.environ.get("BENCH_IMAGE_ID"),
        "command_line": shlex.join([Path(sys.executable).name, "-m", "bench", *(argv if argv is not None else sys.argv[1:])]),
        "started_utc": utc_now(),
    }
