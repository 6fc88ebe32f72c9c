#!/usr/bin/env python3
"""Fault scenarios against the running compose cluster (host side, stdlib only).

  chaos.py worker  kill one worker container (docker kill = crash) while ray-naive runs;
                   the suite must still finish with every answer correct.
  chaos.py head    kill the head while a run is in flight; the bench must exit 1 within
                   60 s with one line, leaving a valid results file marked incomplete.
  chaos.py sweep   the cost of a failure against batch size: for each B, all workers up, then
                   ray-batched at B with clean trials and one more, into which one worker is
                   killed; the bench records what the kill cost (bench.engine.faultcost). Every answer
                   must stay correct, and every kill must land inside its trial.

Each kill is appended to a fault log (JSON lines) that the bench reads through
$BENCH_FAULT_LOG, so the results can put the kill time next to Ray's detection time.
Prints one JSON summary line on stdout; exits non-zero when the scenario's promise fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appliance import Fail, batch_sizes, containers  # noqa: E402  (the one listing of the project's containers)
from chaos_sweep import sweep  # noqa: E402

# Big enough that the kill lands inside ray-naive on a 2-core host, small enough for CI.
SCENARIO_ARGS = {
    "worker": ["--suite", "quick", "--modes", "ray-naive,ray-batched", "--queries", "20000",
               "--naive-tasks", "20000", "--batch-sizes", "100,1000", "--trials", "3"],
    "head": ["--suite", "quick", "--modes", "ray-naive", "--queries", "50000",
             "--naive-tasks", "50000", "--trials", "3"],
}
HEAD_EXIT_DEADLINE_S = 60


def die(message: str, code: int = 2) -> None:
    print(f"chaos: {message}", file=sys.stderr)
    sys.exit(code)


def container_name(container_id: str) -> str:
    return subprocess.run(["docker", "inspect", "-f", "{{.Name}}", container_id],
                          capture_output=True, text=True, check=True).stdout.strip().lstrip("/")


def wait_for_runs(path: Path, runs: int, timeout_s: float, proc: subprocess.Popen) -> bool:
    """Wait until the results file exists (calibration done) and holds `runs` finished runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            data = json.loads(path.read_text())
            # Trials run in interleaved rounds after every configuration's warm-up: the
            # runner marks the start of the measured rounds in the file (older files: none).
            measuring = (data.get("config") or {}).get("measuring_since_unix") or "order" not in (data.get("config") or {})
            if len(data.get("runs", [])) >= runs and measuring:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    return False


def sweep_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sweep")
    group.add_argument("--workers", type=int, help="worker containers to keep up (default: --expect-nodes)")
    group.add_argument("--batch-sizes", default="100,1000,10000", help="comma list of B (default 100,1000,10000)")
    group.add_argument("--clean-trials", type=int, default=2, help="trials before the faulted one (default 2)")
    group.add_argument("--queries", type=int, help="lookups per trial (default: largest B x workers)")
    group.add_argument("--array-size", type=int, default=5000, help="elements searched per lookup (default 5000)")
    group.add_argument("--kill-at", type=float, default=0.3,
                       help="the kill's time into the faulted trial, as a share of the clean trials' median (default 0.3)")


def main() -> int:
    try:
        return scenario()
    except Fail as exc:  # docker itself failed: one line, no traceback
        die(str(exc).removeprefix("error: "))
    except subprocess.CalledProcessError as exc:
        die(f"{' '.join(exc.cmd[:3])} failed: {(exc.stderr or '').strip()[-300:] or f'exit {exc.returncode}'}")
    return 2


def scenario() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted([*SCENARIO_ARGS, "sweep"]))
    parser.add_argument("--project", default=os.environ.get("COMPOSE_PROJECT_NAME", "raybench"))
    parser.add_argument("--compose", default=os.environ.get("COMPOSE", "docker-compose"))
    parser.add_argument("--results-dir", default=os.environ.get("RESULTS_DIR", "./results"))
    parser.add_argument("--name", default=None, help="results file stem (default chaos-<scenario>-<utc>)")
    parser.add_argument("--expect-nodes", type=int, required=True)
    parser.add_argument("--kill-delay", type=float, default=4.0,
                        help="seconds into the measured Ray run before the kill")
    sweep_options(parser)
    args = parser.parse_args()
    if args.scenario == "sweep":
        return sweep(args, batch_sizes(args.batch_sizes), die)

    name = args.name or f"chaos-{args.scenario}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    results_dir = Path(args.results_dir)
    host_results = results_dir / f"{name}.json"
    fault_log = results_dir / f"{name}.faults.jsonl"
    if host_results.exists():
        die(f"{host_results} already exists")
    if not containers("bench", args.project):
        die(f"no running bench container in project '{args.project}'; run 'make up' first")
    victims = containers("ray-worker" if args.scenario == "worker" else "ray-head", args.project)
    if args.scenario == "worker" and len(victims) < 2:
        die("the worker scenario needs at least 2 workers (make up WORKERS=2 or more)")

    command = [*shlex.split(args.compose), "exec", "-T", "-e", f"BENCH_FAULT_LOG=/app/results/{fault_log.name}",
               "bench", "python", "-m", "bench", "run", *SCENARIO_ARGS[args.scenario], "--address", "auto",
               "--expect-nodes", str(args.expect_nodes), "--quiet", "--out", f"results/{host_results.name}"]
    started = time.monotonic()
    env = {**os.environ, "COMPOSE_PROJECT_NAME": args.project}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # Wait for the measured rounds to start (after calibration and every warm-up), then
    # kill mid-trial.
    if not wait_for_runs(host_results, 0, 300, proc):
        out, err = proc.communicate()
        die(f"the bench never started its runs (exit {proc.returncode}): {(err or out).strip()[-500:]}", 1)
    time.sleep(args.kill_delay)
    victim = victims[-1]
    victim_name = container_name(victim)
    killed_unix = time.time()
    subprocess.run(["docker", "kill", victim], capture_output=True, check=True)
    with fault_log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": "docker kill", "target": victim_name, "unix": killed_unix,
                                 "scenario": args.scenario}) + "\n")
    killed_at = time.monotonic()
    try:
        out, err = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    exit_after_kill = time.monotonic() - killed_at
    summary = {"scenario": args.scenario, "killed": victim_name, "bench_exit": proc.returncode,
               "seconds_from_kill_to_exit": round(exit_after_kill, 1),
               "wall_s": round(time.monotonic() - started, 1), "results": str(host_results),
               "stderr_lines": [line for line in err.splitlines() if line.strip()][-3:]}
    try:
        data = json.loads(host_results.read_text())
    except (OSError, ValueError) as exc:
        summary["results_error"] = str(exc)
        print(json.dumps(summary))
        return 1
    summary["status"] = data.get("status")
    summary["all_correct"] = all(r["correct"] for r in data["runs"])
    summary["runs_finished"] = len(data["runs"])
    losses = [e for r in data["runs"] for e in r.get("node_events", []) if e["event"] == "node_lost"]
    summary["detection_s"] = [round(d, 1) for r in data["runs"] for d in r.get("loss_detection_s", [])]
    summary["nodes_lost"] = len(losses)
    print(json.dumps(summary))
    if args.scenario == "worker":
        ok = proc.returncode == 0 and summary["all_correct"] and summary["status"] == "complete" and losses
    else:
        ok = proc.returncode == 1 and exit_after_kill <= HEAD_EXIT_DEADLINE_S and summary["status"] == "incomplete"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
