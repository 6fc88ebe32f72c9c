"""The pre-flight (bench.engine.samplers.system_check) blames other work only for other processes:
right after a suite the load average is the bench's own, and the bench's and Ray's processes
are not "other work"."""

import subprocess
import sys
import time

import pytest

from bench.engine import samplers

SPIN = "import time\nend = time.time() + 8\nwhile time.time() < end: pass\n"


def _detached(*extra_args: str) -> int:
    """A CPU-bound process that is not this one's child (reparented), with extra_args on its command line."""
    out = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" "$@" >/dev/null 2>&1 & echo $!', SPIN, *extra_args],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_the_benchs_own_and_rays_processes_are_not_other_work():
    child = subprocess.Popen([sys.executable, "-c", SPIN])  # the bench's own child (a mode's pool, Ray)
    ray_like = _detached("/ray/core/src/ray/raylet/raylet")  # Ray's, by its command line
    other = _detached("--some-other-job")
    try:
        time.sleep(0.3)
        seen = samplers._process_cpu()
        who = samplers.cpu_by_owner(1.0)
    finally:
        for pid in (ray_like, other):
            subprocess.run(["kill", str(pid)], check=False)
        child.kill()
        child.wait()
    assert seen[child.pid][2] and seen[ray_like][2], "the bench's child and Ray's process are its own"
    assert not seen[other][2], "a process that is neither is other work"
    assert all(entry["pid"] not in (child.pid, ray_like) for entry in who["top_other"]), who
    assert who["own_cores"] > 0.1, who  # the spinning child and raylet-like process, counted as the bench's


@pytest.mark.parametrize("busy", [0.1, 1.6])
def test_a_high_load_average_with_only_the_bench_busy_is_not_other_work(busy):
    # right after a suite: the load average is high, and the busy cores (if any) are the bench's and Ray's
    who = {"host_busy_cores": busy, "own_cores": busy, "other_cores": 0.0, "unseen_cores": 0.0, "top_other": []}
    warnings = samplers.machine_warnings([1.9, 1.2, 0.6], 2, who, 1.0)
    assert not any("other work" in w for w in warnings), warnings
    if busy > samplers.BUSY_HOST_CORES:
        assert warnings and "the bench and Ray here 1.60" in warnings[0]
    else:
        assert warnings == []


def test_other_processes_are_named_with_their_share():
    who = {"host_busy_cores": 1.2, "own_cores": 0.1, "other_cores": 1.05, "unseen_cores": 0.05,
           "top_other": [{"name": "ffmpeg", "pid": 4242, "cores": 0.98}]}
    (warning,) = samplers.machine_warnings([1.5, 1.0, 0.5], 2, who, 1.0)
    assert warning.startswith("other work is running (load average 1.50 on 2 CPUs; 1.05 cores")
    assert "ffmpeg (pid 4242) 0.98" in warning


def test_system_check_records_who_used_the_cpu():
    check = samplers.system_check(window_s=0.2)
    assert set(check["cpu_by_owner"]) == {"host_busy_cores", "own_cores", "other_cores", "unseen_cores", "top_other"}
    assert isinstance(check["warnings"], list)
