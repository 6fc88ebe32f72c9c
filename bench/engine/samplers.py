"""Per-node CPU and memory sampling.

Inside a container, psutil.cpu_percent() reads the host-wide /proc/stat, so
every container on one host would report the same figure. We therefore read
the cgroup's own accounting first (v2 `cpu.stat`/`memory.current`, then v1),
and fall back to psutil only where no cgroup file is readable.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import psutil

from bench.engine import placement
from bench.results import SETTLE_BUSY_CORES

CGROUP_ROOT = Path("/sys/fs/cgroup")
SAMPLE_INTERVAL_S = 0.2
MAX_SAMPLES = 20_000  # ~66 min at 5 Hz; bounds memory on a forgotten sampler


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _in_root_cgroup_of_host() -> bool:
    """True when /sys/fs/cgroup is the whole machine's: outside any container, in the root cgroup.

    Then cgroup figures are host-wide, and the source says so instead of claiming 'cgroup'.
    """
    if Path("/.dockerenv").exists() or os.environ.get("container"):
        return False
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers in ("", "cpu,cpuacct", "cpuacct", "cpuacct,cpu"):
            return path == "/"
    return False


def cpu_usage_usec(root: Path = CGROUP_ROOT) -> tuple[int | None, str]:
    """Cumulative CPU time of this cgroup in microseconds, and where it came from."""
    try:
        for line in (root / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value), "cgroup-v2"
    except OSError:
        pass
    nanos = _read_int(root / "cpuacct" / "cpuacct.usage")
    if nanos is not None:
        return nanos // 1000, "cgroup-v1"
    return None, "psutil"


def memory_bytes(root: Path = CGROUP_ROOT) -> tuple[int, str]:
    current = _read_int(root / "memory.current")
    if current is not None:
        return current, "cgroup-v2"
    current = _read_int(root / "memory" / "memory.usage_in_bytes")
    if current is not None:
        return current, "cgroup-v1"
    return int(psutil.virtual_memory().used), "psutil"


def cgroup_limits(root: Path = CGROUP_ROOT) -> dict:
    """CPU quota (in CPUs) and memory limit (bytes) of this cgroup, None if unlimited."""
    cpu_limit = None
    try:
        quota, period = (root / "cpu.max").read_text().split()
        if quota != "max":
            cpu_limit = int(quota) / int(period)
    except (OSError, ValueError):
        quota_us = _read_int(root / "cpu" / "cpu.cfs_quota_us")
        period_us = _read_int(root / "cpu" / "cpu.cfs_period_us")
        if quota_us and period_us:
            cpu_limit = quota_us / period_us
    memory_limit = _read_int(root / "memory.max")
    if memory_limit is None:
        v1 = _read_int(root / "memory" / "memory.limit_in_bytes")
        # v1 reports "unlimited" as a huge page-aligned number.
        memory_limit = v1 if v1 is not None and v1 < (1 << 60) else None
    return {"cpu_limit": cpu_limit, "memory_limit_bytes": memory_limit}


def shm_bytes(path: str = "/dev/shm") -> int | None:
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_blocks * stat.f_frsize


def available_cpus() -> int:
    """CPUs this process may use: affinity, capped by a cgroup quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:
        count = os.cpu_count() or 1
    limit = cgroup_limits()["cpu_limit"]
    if limit:
        count = min(count, max(1, int(limit)))
    return max(1, count)


def node_facts() -> dict:
    """What a node can tell about itself: used to annotate the cluster's node list."""
    return {
        "hostname": socket.gethostname(),
        "shm_bytes": shm_bytes(),
        "host_cpus": os.cpu_count(),
        "host_memory_bytes": int(psutil.virtual_memory().total),
        "ray_settings": placement.node_settings(),
        **cgroup_limits(),
    }


class ResourceSampler:
    """Samples this node's CPU (% of one core) and memory on a background thread."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S):
        self.interval_s = interval_s
        self._samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cpu_source = "unknown"
        self.memory_source = "unknown"

    def _prime(self) -> None:
        self._last_usage, self.cpu_source = cpu_usage_usec()
        if self._last_usage is not None and _in_root_cgroup_of_host():
            self.cpu_source += " (root cgroup: host-wide)"
        self._last_wall = time.time()
        if self._last_usage is None:
            psutil.cpu_percent(None)  # prime the psutil delta

    def _take_sample(self) -> None:
        now = time.time()
        usage, _ = cpu_usage_usec()
        if usage is not None and self._last_usage is not None:
            cpu_pct = 100.0 * (usage - self._last_usage) / 1e6 / max(now - self._last_wall, 1e-9)
        else:
            cpu_pct = psutil.cpu_percent(None) * (os.cpu_count() or 1)
        self._last_usage, self._last_wall = usage, now
        memory, self.memory_source = memory_bytes()
        if len(self._samples) < MAX_SAMPLES:
            self._samples.append((now, round(cpu_pct, 2), memory))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._take_sample()

    def start(self) -> None:
        self.stop()
        self._samples = []
        self._prime()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> dict:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None
            self._take_sample()  # a run shorter than one interval still gets a sample
        return {
            "cpu_source": self.cpu_source,
            "memory_source": self.memory_source,
            "interval_s": self.interval_s,
            # (unix time, cpu % of one core, memory bytes)
            "samples": list(self._samples),
        }


class PeakRSS:
    """Tracks the driver process's peak resident memory while a run is in flight."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        process = psutil.Process()
        while True:
            self.peak = max(self.peak, process.memory_info().rss)
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> "PeakRSS":
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.peak = max(self.peak, psutil.Process().memory_info().rss)


def host_busy_cores(window_s: float) -> float | None:
    """Cores' worth of CPU the whole host spends over window_s (host-wide /proc/stat,
    which containers share): what else is running while we measure."""
    try:
        return psutil.cpu_percent(interval=window_s) / 100.0 * (psutil.cpu_count() or 1)
    except Exception:
        return None


def idle_load(node_samplers, window_s: float) -> dict:
    """Each node's own CPU use while nothing is submitted (node_samplers: cluster.NodeSamplers),
    and the whole host's: the noise every trial runs in (raylets, agents, samplers)."""
    node_samplers.start()
    host = host_busy_cores(window_s)
    per_node = node_samplers.stop()
    nodes = {}
    for node_id, data in per_node.items():
        cpu = [sample[1] for sample in (data or {}).get("samples", ())]
        if cpu:
            nodes[node_id] = {"hostname": node_samplers.hostnames.get(node_id), "cpu_pct_of_core": sum(cpu) / len(cpu)}
    return {"window_s": window_s, "host_busy_cores": host, "nodes": nodes,
            "nodes_total_pct_of_core": sum(n["cpu_pct_of_core"] for n in nodes.values())}


def host_cpu_times() -> dict | None:
    """The host's cumulative CPU times in seconds (host-wide /proc/stat, which containers
    share): busy, idle and, on a virtual machine, steal (time the hypervisor gave away)."""
    try:
        times = psutil.cpu_times()
    except Exception:
        return None
    idle = times.idle + getattr(times, "iowait", 0.0)
    steal = getattr(times, "steal", 0.0)
    busy = sum(times) - idle - steal - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return {"unix": time.time(), "busy_s": busy, "idle_s": idle, "steal_s": steal}


def host_cpu_between(start: dict | None, end: dict | None) -> dict | None:
    """What the host's CPUs did between two host_cpu_times snapshots: cores busy, cores stolen by
    the hypervisor, and steal as a share of all CPU time (a whole-run slowdown with steal up is
    the machine, not the code)."""
    if not start or not end or end["unix"] <= start["unix"]:
        return None
    window = end["unix"] - start["unix"]
    busy, idle, steal = (max(0.0, end[k] - start[k]) for k in ("busy_s", "idle_s", "steal_s"))
    total = busy + idle + steal
    return {"window_s": window, "busy_cores": busy / window, "steal_cores": steal / window,
            "steal_share": steal / total if total > 0 else None}


PROBE_ITERATIONS = 500_000  # about 20 ms of one core on the reference machine
PROBE_METHOD = (f"a fixed pure-Python loop ({PROBE_ITERATIONS:,} iterations, no Ray, no numpy), "
                "the median of 3 timings, at the start and after each round")


def _probe_loop(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def machine_probe(iterations: int = PROBE_ITERATIONS) -> float:
    """Seconds the same CPU loop takes now: the speed one core gives this process at this
    moment. Timed around every round, so that a re-run can tell a slower machine (every
    row slower where the probe is) from slower code (the probe steady)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        _probe_loop(iterations)
        times.append(time.perf_counter() - start)
    return sorted(times)[1]


def host_mark() -> dict | None:
    """host_cpu_times plus a machine_probe: one mark at the start and one after each round."""
    mark = host_cpu_times()
    if mark is not None:
        mark["probe_s"] = machine_probe()
    return mark


def host_cpu_record(marks: list[dict | None]) -> dict:
    """The host's CPU over the measured rounds and per round (marks: the start, then one
    snapshot after each round): what the machine did while the suite measured, and the
    machine probe's seconds at each mark (probe_s[k]: after round k; [0] before round 1)."""
    rounds = [host_cpu_between(a, b) for a, b in zip(marks, marks[1:])]
    return {"source": "/proc/stat (host-wide)", "measured_rounds": host_cpu_between(marks[0], marks[-1]) if marks else None,
            "rounds": rounds,
            "probe": {"method": PROBE_METHOD, "probe_s": [(m or {}).get("probe_s") for m in marks]}}



def settle(max_wait_s: float, window_s: float = 1.0, quiet_cores: float = SETTLE_BUSY_CORES,
           min_wait_s: float = 0.0) -> dict:
    """Wait (at least min_wait_s, at most max_wait_s) until the host is quiet over one window:
    before the first round, warm-ups leave Ray starting and reaping worker processes; before
    a trial, the last one's bookkeeping may still run. Returns what was seen, to record;
    never fails the run."""
    started, busy = time.monotonic(), None
    while True:
        busy = host_busy_cores(window_s)
        waited = time.monotonic() - started
        if busy is None or waited >= max_wait_s or (busy <= quiet_cores and waited >= min_wait_s):
            return {"waited_s": round(waited, 2), "busy_cores": busy, "quiet_cores": quiet_cores,
                    "settled": busy is not None and busy <= quiet_cores}


def _governors() -> list[str]:
    found = set()
    for path in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            found.add(path.read_text().strip())
        except OSError:
            continue
    return sorted(found)


BUSY_HOST_CORES = 0.25  # more than this before a suite starts: something else is running
# Ray's own processes, by what their command line contains: the bench's cluster, not other work.
RAY_PROCESS_MARKS = ("raylet", "gcs_server", "ray::", "/ray/_private/", "/ray/dashboard/", "/ray/autoscaler/",
                     "default_worker.py", "plasma_store", "ray/core/src/")


def _process_cpu() -> dict[int, tuple[float, str, bool]]:
    """pid -> (CPU seconds so far, a short name, is it the bench's own or Ray's) for every
    process this one can see (inside a container: that container's)."""
    own = {os.getpid()}
    try:
        me = psutil.Process()
        own |= {child.pid for child in me.children(recursive=True)} | {me.ppid()}
    except psutil.Error:
        pass
    seen = {}
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cpu_times"]):
        info = proc.info
        times, cmdline = info.get("cpu_times"), " ".join(info.get("cmdline") or ())
        if times is None:
            continue
        ours = info["pid"] in own or any(mark in cmdline for mark in RAY_PROCESS_MARKS) or "-m bench" in cmdline
        seen[info["pid"]] = (times.user + times.system, info.get("name") or cmdline[:30] or "?", ours)
    return seen


def cpu_by_owner(window_s: float) -> dict:
    """Who uses the CPU over one window: the whole host (host_busy_cores), the bench and Ray
    (this process, its children, Ray's processes), and the top other processes by name."""
    try:
        before = _process_cpu()
    except Exception:
        before = {}
    busy = host_busy_cores(window_s)
    try:
        after = _process_cpu()
    except Exception:
        after = {}
    own, others = 0.0, []
    for pid, (cpu, name, ours) in after.items():
        # a process started during the window spent all its CPU time in it
        used = min(1.0 * window_s, max(0.0, cpu - before[pid][0] if pid in before else cpu)) / window_s
        if ours:
            own += used
        else:
            others.append((used, pid, name))
    other = sum(used for used, _, _ in others)
    unseen = max(0.0, busy - own - other) if busy is not None else None
    top = [{"name": name, "pid": pid, "cores": round(used, 3)} for used, pid, name in sorted(others, reverse=True)[:3]
           if used >= 0.05]
    return {"host_busy_cores": busy, "own_cores": round(own, 3), "other_cores": round(other, 3),
            "unseen_cores": None if unseen is None else round(unseen, 3), "top_other": top}


def machine_warnings(load, cpus: int, who: dict, window_s: float) -> list[str]:
    """The pre-flight's warnings: busy only counts against the machine when something other than
    the bench and Ray uses it. A high load average with nothing else busy now is the recent past
    (the previous suite's own work), not other work."""
    warnings, busy = [], who.get("host_busy_cores")
    named = ", ".join(f"{t['name']} (pid {t['pid']}) {t['cores']:.2f}" for t in who["top_other"])
    if who["other_cores"] > BUSY_HOST_CORES:
        load_text = f"load average {load[0]:.2f} on {cpus} CPUs; " if load is not None else ""
        warnings.append(f"other work is running ({load_text}{who['other_cores']:.2f} cores over {window_s:.0f} s "
                        f"in processes that are not the bench or Ray: {named or 'several small ones'}); "
                        "figures will be noisy")
    elif busy is not None and busy > BUSY_HOST_CORES:
        warnings.append(f"the host is busy ({busy:.2f} cores over {window_s:.0f} s before the suite): the bench and "
                        f"Ray here {who['own_cores']:.2f}, other processes here {who['other_cores']:.2f}, the rest "
                        f"{who['unseen_cores'] or 0:.2f} in processes not visible from here (other containers, "
                        "such as this cluster's nodes, or short-lived ones); stop other containers or jobs for "
                        "stable figures")
    return warnings


def system_check(window_s: float = 1.0) -> dict:
    """pyperf-style checks before measuring; each problem is one warning line."""
    cpus = psutil.cpu_count() or 1
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    who = cpu_by_owner(window_s)
    governors = _governors()
    warnings = machine_warnings(load, cpus, who, window_s)
    slow = [g for g in governors if g != "performance"]
    if slow:
        warnings.append(f"CPU frequency governor is {', '.join(slow)} (not 'performance'): clock speed may vary between trials")
    return {"load_average": load, "cpus": cpus, "host_busy_cores": who["host_busy_cores"], "window_s": window_s,
            "cpu_by_owner": who, "cpu_governors": governors, "warnings": warnings}
