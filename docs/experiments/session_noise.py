"""Is the Ray session the unit that varies? Runs the same small embedded suite in S separate
processes (each its own Ray session) and compares, per row, the spread of the S medians with
the spread of the trials inside one session. If sessions differ by more than their trials
predict, repeating a row within one session cannot make two runs agree; spreading its trials
over several sessions can.

    .venv/bin/python docs/experiments/session_noise.py --sessions 6 --out build/session-noise

Against the compose cluster, from inside the bench container (each session is one driver):

    docker exec -i $(docker ps -qf label=com.docker.compose.service=bench) \
        python - --address auto --sessions 5 --out /tmp/sn < docs/experiments/session_noise.py

Needs a quiet host: it measures noise, and anything else running is noise.
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

RUN = ["-m", "bench", "run", "--modes", "sequential,ray-naive,ray-batched", "--queries", "20000",
       "--naive-tasks", "2000", "--batch-sizes", "1000,10000", "--trials", "7", "--budget", "0"]


def medians_and_within(path: Path) -> dict[str, tuple[float, float]]:
    """Per row: the median trial time, and the trials' robust CV (IQR / 1.349 / median)."""
    data = json.loads(path.read_text())
    out = {}
    rows = list(data["runs"])
    calibration = (data.get("cluster") or {}).get("calibration") or {}
    rates = (calibration.get("samples") or {}).get("tasks_per_s")
    if rates:  # seconds per no-op task, so that every row reads as a time
        rows.append({"label": "calibration (no-op)", "samples": {"response_s": [1 / r for r in rates]}})
    probe = (((data.get("cluster") or {}).get("host_cpu") or {}).get("probe") or {}).get("probe_s")
    if probe:  # the fixed CPU loop around every round: the machine's own speed
        rows.append({"label": "machine probe", "samples": {"response_s": [p for p in probe if p]}})
    for run in rows:
        times = run["samples"].get("response_s")
        if not times:
            continue
        q = statistics.quantiles(times, n=4)
        med = statistics.median(times)
        out[run["label"]] = (med, (q[2] - q[0]) / 1.349 / med)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--out", default="build/session-noise")
    parser.add_argument("--address", help="join this cluster (each session a new driver) instead of an embedded Ray")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_session = []
    for s in range(args.sessions):
        path = out / f"session-{s}.json"
        path.unlink(missing_ok=True)
        where = ["--address", args.address] if args.address else []
        subprocess.run([sys.executable, *RUN, *where, "--out", str(path)], check=True,
                       stdout=subprocess.DEVNULL)
        per_session.append(medians_and_within(path))
    print(f"{'row':28} {'medians over sessions (ms)':44} {'between CV':>10} {'within CV':>10} {'ratio':>6}")
    for label in per_session[0]:
        meds = [s[label][0] for s in per_session if label in s]
        within = statistics.median(s[label][1] for s in per_session if label in s)
        n_trials = 7
        # The CV a median of n trials has from within-session noise alone (~1.25 sd / sqrt(n)).
        expected = 1.2533 * within / n_trials ** 0.5
        between = statistics.stdev(meds) / statistics.mean(meds)
        shown = " ".join(f"{m * 1e3:.3g}" for m in meds)
        print(f"{label:28} {shown:44} {between:10.1%} {within:10.1%} {between / max(expected, 1e-9):6.1f}")
    print("ratio: between-session CV of the medians over the CV within-session noise predicts for them;"
          " >> 1 means the session, not the trial, is the unit that varies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
