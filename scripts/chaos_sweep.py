"""chaos.py sweep: the cost of a failure against batch size (host side, stdlib only).

For each batch size B: every worker container up (a killed one is started again; the bench's
--expect-nodes then waits until the head sees them all), then `bench run` of ray-batched at B
with --clean-trials trials and one more. The bench announces each trial on BENCH_TRIAL_LOG; when
B's faulted trial starts, one worker is killed --kill-at of a clean trial's median into it, and
the kill goes to BENCH_FAULT_LOG. The bench records what it cost (bench.engine.faultcost) in
NAME-B<B>.json; a kill that landed after its trial ended is reported and fails the sweep.

The workload: ray-batched's own lookups with --array-size elements per search (5,000: about
0.3 ms a lookup, a CPU-bound task body), and by default largest B x workers lookups, so that even
at the largest B every worker holds one task when the kill comes (a worker with nothing to run
would cost nothing) and each B divides the lookups. On a 2-core host a trial then lasts several
seconds at every B, against a kill 30% into it and a trial-start marker polled every 50 ms.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from appliance import containers

POLL_S = 0.05
START_TIMEOUT_S = 600  # calibration, every warm-up and the clean rounds of one point
RUN_TIMEOUT_S = 900
POINT_ATTEMPTS = 3  # kills per batch size until one hits a worker holding a task


def _markers(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line being written
    return out


def wait_marker(path: Path, event: str, batch: int, trial: int, proc: subprocess.Popen, timeout_s: float):
    """The trial marker (event, B, trial index), or None when the bench exited or time ran out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for marker in _markers(path):
            if marker.get("event") == event and marker.get("batch_size") == batch and marker.get("trial") == trial:
                return marker
        if proc.poll() is not None:
            return None
        time.sleep(POLL_S)
    return None


def start_workers(project: str, workers: int, die) -> list[str]:
    """Start stopped worker containers until `workers` run; the running ones' ids."""
    running = containers("ray-worker", project)
    stopped = [c for c in containers("ray-worker", project, running=False) if c not in running]
    for container in stopped[: max(0, workers - len(running))]:
        subprocess.run(["docker", "start", container], capture_output=True, check=True)
    running = containers("ray-worker", project)
    if len(running) < workers:
        die(f"{len(running)} worker container(s) running, {workers} wanted: start more (make up WORKERS={workers})")
    return running


def _bench_command(args, batch: int, queries: int, name: str) -> list[str]:
    return [*shlex.split(args.compose), "exec", "-T",
            "-e", f"BENCH_FAULT_LOG=/app/results/{name}.faults.jsonl",
            "-e", f"BENCH_TRIAL_LOG=/app/results/{name}.trials.jsonl",
            "bench", "python", "-m", "bench", "run", "--suite", "heavy", "--modes", "ray-batched",
            "--batch-sizes", str(batch), "--queries", str(queries), "--array-size", str(args.array_size),
            "--trials", str(args.clean_trials + 1), "--budget", "0", "--address", "auto",
            "--expect-nodes", str(args.expect_nodes), "--quiet", "--out", f"results/{name}.json"]


def _kill(project: str, fault_log: Path, batch: int) -> tuple[str, float]:
    victim = containers("ray-worker", project)[-1]
    name = subprocess.run(["docker", "inspect", "-f", "{{.Name}}", victim], capture_output=True, text=True,
                          check=True).stdout.strip().lstrip("/")
    killed = time.time()
    subprocess.run(["docker", "kill", victim], capture_output=True, check=True)
    with fault_log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": "docker kill", "target": name, "unix": killed, "scenario": "sweep",
                                 "batch_size": batch}) + "\n")
    return name, killed


def point(args, batch: int, queries: int, die) -> dict:
    """One batch size: clean trials, the kill inside the next, and what the results file says."""
    name = f"{args.name}-B{batch}"
    results_dir = Path(args.results_dir)
    results, fault_log, trial_log = (results_dir / f"{name}{suffix}" for suffix in
                                     (".json", ".faults.jsonl", ".trials.jsonl"))
    start_workers(args.project, args.workers, die)
    proc = subprocess.Popen(_bench_command(args, batch, queries, name), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COMPOSE_PROJECT_NAME": args.project})
    out = {"batch_size": batch, "results": str(results), "problems": []}
    start = wait_marker(trial_log, "trial start", batch, args.clean_trials, proc, START_TIMEOUT_S)
    if start is None:
        out["problems"].append(f"B={batch}: the faulted trial never started")
    else:
        clean = [m["end"] - m["begin"] for m in _markers(trial_log) if m.get("event") == "trial end"
                 and m.get("batch_size") == batch and m.get("trial", args.clean_trials) < args.clean_trials]
        delay = max(0.2, args.kill_at * statistics.median(clean)) if clean else 1.0
        time.sleep(max(0.0, start["unix"] + delay - time.time()))
        out["killed"], killed = _kill(args.project, fault_log, batch)
        end = wait_marker(trial_log, "trial end", batch, args.clean_trials, proc, RUN_TIMEOUT_S)
        out["kill_into_trial_s"] = round(killed - start["unix"], 2)
        if end is not None and end["end"] < killed:
            out["problems"].append(f"B={batch}: the kill landed {killed - end['end']:.2f} s after the faulted trial "
                                   f"ended (it took {end['end'] - end['begin']:.2f} s): raise --array-size or --queries")
    try:
        _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    out["bench_exit"] = proc.returncode
    if proc.returncode != 0:
        out["problems"].append(f"B={batch}: the bench exited {proc.returncode}: "
                               f"{(err or '').strip().splitlines()[-1:] or ['no message']}")
    return {**out, **_recorded(results, batch, out["problems"])}


def _recorded(path: Path, batch: int, problems: list[str]) -> dict:
    """What the results file says about the kill's cost."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        problems.append(f"B={batch}: no results file ({exc})")
        return {}
    costs = [c for r in data["runs"] for c in r.get("fault_cost") or ()]
    found = {"status": data.get("status"), "all_correct": all(r["correct"] for r in data["runs"]),
             "faults_recorded": len(costs)}
    if not found["all_correct"] or found["status"] != "complete":
        problems.append(f"B={batch}: status {found['status']}, every answer correct: {found['all_correct']}")
    if len(costs) != 1:
        problems.append(f"B={batch}: {len(costs)} fault cost record(s), 1 expected")
    elif costs[0]["trial"] is None:
        problems.append(f"B={batch}: the bench found the kill {costs[0]['landed']}")
    if costs:
        keys = ("landed", "tasks", "lookups_re_executed", "tasks_retried", "recovery_s", "detection_s",
                "faulted_response_s", "clean_median_s", "slowdown", "trial_correct")
        found.update({k: costs[0].get(k) for k in keys}, task_events=(costs[0].get("task_events") or {}).get("reason"))
    return found


def _set_aside(args, batch: int, attempt: int) -> str:
    """Rename a point's files out of the sweep's NAME-B* set (never deleted: nothing run is lost)."""
    folder = Path(args.results_dir)
    for suffix in (".json", ".faults.jsonl", ".trials.jsonl"):
        source = folder / f"{args.name}-B{batch}{suffix}"
        if source.exists():
            source.rename(folder / f"{args.name}-idle-kill{attempt}-B{batch}{suffix}")
    return f"{args.name}-idle-kill{attempt}-B{batch}.json"


def sweep(args, sizes: list[int], die) -> int:
    args.workers = args.workers or args.expect_nodes
    args.name = args.name or f"chaos-sweep-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    if args.clean_trials < 1 or args.array_size < 1 or not 0 < args.kill_at < 1 or (args.queries or 1) < 1:
        die("--clean-trials and --array-size must be >= 1, --queries >= 1 and --kill-at between 0 and 1")
    queries = args.queries or max(sizes) * args.workers
    if max(sizes) > queries:
        die(f"the largest batch size ({max(sizes):,}) is over --queries ({queries:,}): one task would hold every lookup")
    taken = [p for b in sizes for p in Path(args.results_dir).glob(f"{args.name}-B{b}.*")]
    if taken:
        die(f"{taken[0]} already exists (choose another --name)")
    if not containers("bench", args.project):
        die(f"no running bench container in project '{args.project}'; run 'make up' first")
    started, points = time.monotonic(), []
    for batch in sizes:
        for attempt in range(1, POINT_ATTEMPTS + 1):
            found = point(args, batch, queries, die)
            if found["problems"] or found.get("tasks_retried") != 0:
                break
            if attempt == POINT_ATTEMPTS:
                found["problems"].append(f"B={batch}: the killed worker held no task in {attempt} attempts")
                break
            # The kill hit a worker between tasks (nothing to re-execute): that measures no failure
            # cost. Keep its files under another name and kill again.
            kept = _set_aside(args, batch, attempt)
            print(f"chaos sweep: B={batch:,}: the killed worker held no task; kept as {kept}, again", file=sys.stderr)
        points.append(found)
        print(f"chaos sweep: B={batch:,}: " + (", ".join(f"{k} {found.get(k)}" for k in (
            "kill_into_trial_s", "lookups_re_executed", "recovery_s", "slowdown", "all_correct"))), file=sys.stderr)
    start_workers(args.project, args.workers, die)  # leave the cluster as it was found
    problems = [p for found in points for p in found.pop("problems")]
    for problem in problems:
        print(f"chaos sweep: {problem}", file=sys.stderr)
    print(json.dumps({"scenario": "sweep", "queries": queries, "array_size": args.array_size,
                      "clean_trials": args.clean_trials, "kill_at": args.kill_at, "points": points,
                      "problems": problems, "wall_s": round(time.monotonic() - started, 1)}))
    return 1 if problems else 0
