"""Where an idle compose cluster's CPU goes: per container (cgroup cpuacct), per process
and per thread (/proc), plus dockerd/containerd and the shims, over one window. The engine's
share includes the short-lived processes its daemons reaped (runc, one per health check exec),
and the host's whole busy time is printed beside it, for what runs outside both.

    python3 docs/experiments/idle_load.py PROJECT [--window 60] [--top 25]

PROJECT is the compose project name (the containers' com.docker.compose.project label).
Standard library only; reads cgroup v1 (cpuacct) or v2 (cpu.stat) as the host has.
"""
import argparse
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from appliance import compose_filters  # noqa: E402  (the one place that knows Compose's labels)

TICK = os.sysconf("SC_CLK_TCK")


def containers(project):
    ids = subprocess.run(["docker", "ps", "-q", *compose_filters(project)],
                         capture_output=True, text=True, check=True).stdout.split()
    out = {}
    for cid in ids:
        name, pid = subprocess.run(["docker", "inspect", "-f", "{{.Name}} {{.State.Pid}}", cid],
                                   capture_output=True, text=True, check=True).stdout.split()
        out[cid] = (name.lstrip("/"), int(pid))
    return out


def cgroup_usage_s(pid):
    for line in open(f"/proc/{pid}/cgroup"):
        _, ctrl, path = line.strip().split(":", 2)
        if "cpuacct" in ctrl.split(","):
            return int(open(f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage").read()) / 1e9
        if ctrl == "" and os.path.exists(f"/sys/fs/cgroup{path}/cpu.stat"):
            for stat in open(f"/sys/fs/cgroup{path}/cpu.stat"):
                if stat.startswith("usage_usec"):
                    return int(stat.split()[1]) / 1e6
    return None


def cgroup_of(pid):
    try:
        for line in open(f"/proc/{pid}/cgroup"):
            _, ctrl, path = line.strip().split(":", 2)
            if "cpuacct" in ctrl.split(",") or ctrl == "":
                return path
    except OSError:
        return None


def context_switches(pid, tid):
    """Voluntary + involuntary switches so far: a thread's wake-ups, which, unlike CPU
    ticks, a 90 s window counts exactly (a timer at 100 ms shows as 10 a second)."""
    count = 0
    for line in open(f"/proc/{pid}/task/{tid}/status"):
        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
            count += int(line.split()[1])
    return count


def thread_times():
    """(pid, tid) -> (cpu seconds, command, thread name, cgroup, switches) for every thread."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()[:90]
            tids = os.listdir(f"/proc/{pid}/task")
            group = cgroup_of(pid)
        except OSError:
            continue
        for tid in tids:
            try:
                stat = open(f"/proc/{pid}/task/{tid}/stat").read()
                comm = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                out[(int(pid), int(tid))] = ((int(fields[11]) + int(fields[12])) / TICK, cmd, comm,
                                             group, context_switches(pid, tid))
            except (OSError, ValueError):
                continue
    return out


ENGINE = ("/usr/bin/dockerd", "dockerd", "/usr/bin/containerd", "containerd")


def engine_reaped_s():
    """CPU seconds of the engine daemons' exited, reaped children (cutime + cstime): the runc
    behind each `docker exec` health check, which no live process shows."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if not open(f"/proc/{pid}/cmdline").read().startswith(ENGINE):
                continue
            stat = open(f"/proc/{pid}/stat").read()
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[13]) + int(fields[14])
        except (OSError, ValueError):
            continue
    return total / TICK


def host_busy_s():
    """All CPUs' busy time so far (/proc/stat: user, nice, system, irq, softirq), in seconds;
    not steal (time the hypervisor gave to other guests), which this VM class shows."""
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in open("/proc/stat").readline().split()[1:8])
    return (user + nice + system + irq + softirq) / TICK


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("project")
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    boxes = containers(args.project)
    cg = {cid: cgroup_of(pid) for cid, (_, pid) in boxes.items()}
    before_cg = {cid: cgroup_usage_s(pid) for cid, (_, pid) in boxes.items()}
    before = thread_times()
    reaped0, busy0 = engine_reaped_s(), host_busy_s()
    t0 = time.monotonic()
    time.sleep(args.window)
    dt = time.monotonic() - t0
    reaped = 100 * (engine_reaped_s() - reaped0) / dt
    busy = 100 * (host_busy_s() - busy0) / dt
    after_cg = {cid: cgroup_usage_s(pid) for cid, (_, pid) in boxes.items()}
    after = thread_times()
    total = 0.0
    print(f"window {dt:.1f} s; % of one core")
    for cid, (name, pid) in sorted(boxes.items(), key=lambda kv: kv[1][0]):
        pct = 100 * (after_cg[cid] - before_cg[cid]) / dt
        total += pct
        print(f"  container {name:40s} {pct:6.2f}")
    print(f"  containers total {total:6.2f}")
    per_proc = defaultdict(float)
    per_thread = []
    daemons = 0.0
    ours = {path: boxes[cid][0] for cid, path in cg.items()}
    for key, (cpu, cmd, comm, group, switches) in after.items():
        if key not in before:
            continue
        d = 100 * (cpu - before[key][0]) / dt
        if cmd.startswith(ENGINE):
            daemons += d  # shared with anything else the engine runs
        if group not in ours:
            continue
        where = ours[group].split("_")[-2] if "_" in ours[group] else ours[group]
        per_proc[(key[0], f"[{where}] {cmd}")] += d
        wakeups = (switches - before[key][4]) / dt
        per_thread.append((d, wakeups, key[0], comm, f"[{where}] {cmd}"))
    print(f"  dockerd + containerd + shims (whole engine) {daemons:6.2f}")
    print(f"  processes the engine ran and reaped (runc for each exec) {reaped:6.2f}")
    print(f"  total {total + daemons + reaped:6.2f}")
    print(f"  the whole host, busy (this script and the VM's own agents included) {busy:6.2f}")
    print("top processes in these containers:")
    for (pid, cmd), d in sorted(per_proc.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {d:6.2f}  {pid:7d}  {cmd}")
    print(f"wake-ups a second in these containers: {sum(t[1] for t in per_thread):.0f}")
    print("top threads in these containers (% of one core, wake-ups a second):")
    for d, wakeups, pid, comm, cmd in sorted(per_thread, reverse=True)[:args.top]:
        print(f"  {d:6.2f} {wakeups:7.1f}  {pid:7d}  {comm:18s} {cmd[:60]}")
    print("top threads by wake-ups a second:")
    for d, wakeups, pid, comm, cmd in sorted(per_thread, key=lambda t: -t[1])[:args.top]:
        print(f"  {wakeups:7.1f} {d:6.2f}  {pid:7d}  {comm:18s} {cmd[:60]}")


if __name__ == "__main__":
    main()
