"""Ctrl-C (SIGINT) and SIGTERM (docker stop, kill) during a suite leave a valid results
file marked incomplete, with what was measured, and exit 130 / 143 with one line."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.results import load
from conftest import REPO

# Long enough that the signal always lands mid-suite: hundreds of sequential trials
# (or naive trials of 1,000 tasks), of which the test waits for only the first round.
NO_RAY = ["--modes", "numpy,sequential", "--queries", "100000", "--trials", "500"]
WITH_RAY = ["--modes", "numpy,ray-naive", "--queries", "1000", "--naive-tasks", "1000",
            "--trials", "200", "--num-cpus", "1"]
EXPECTED = {
    # signal: (exit code, last stderr line, incomplete_reason as the runner records it)
    signal.SIGINT: (130, "bench: interrupted", {"interrupted"}),
    # ours raises Terminated; after ray.init, Ray's own handler calls sys.exit(15)
    signal.SIGTERM: (143, "bench: terminated", {"Terminated: SIGTERM", "SystemExit: 15"}),
}


def _runs_in(path) -> int:
    try:
        return len(json.loads(path.read_text())["runs"])
    except (OSError, ValueError, KeyError):
        return 0  # not written yet, or mid-rename


def _as_from_a_terminal():
    # A job started in the background without job control (`cmd &` in a script, as a CI
    # runner may start the tests) inherits SIGINT ignored, and Python then keeps it ignored:
    # the child gets Ctrl-C's default disposition back, as it has when a user runs it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(tmp_path, suite_args, signum):
    out = tmp_path / "r.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--suite", "quick", *suite_args,
                             "--quiet", "--out", str(out)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)
    try:
        deadline = time.monotonic() + 240
        while _runs_in(out) < 1:
            assert proc.poll() is None, f"the suite ended before it could be interrupted: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no run was written within 240 s"
            time.sleep(0.2)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stdout, stderr, out


def _check(signum, code, stderr, out):
    want_code, want_line, reasons = EXPECTED[signum]
    assert code == want_code, stderr[-2000:]
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.strip()][-1] == want_line
    results = load(out)  # valid JSON that the loader accepts
    assert results.status == "incomplete"
    assert results.incomplete_reason in reasons, results.incomplete_reason
    assert results.runs, "the finished trials must be kept"
    for run in results.runs:
        trials = run.params["trials"]
        assert trials >= 1 and len(run.samples["response_s"]) == trials, run.label
        assert run.correct and run.extra["checksum"] == run.extra["reference_checksum"], run.label


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_a_suite_keeps_a_valid_incomplete_file(tmp_path, signum):
    code, _, stderr, out = _interrupt(tmp_path, NO_RAY, signum)
    _check(signum, code, stderr, out)


@pytest.mark.ray
@pytest.mark.timeout(600)  # Ray start-up, calibration and warm-ups come before the first round
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_an_embedded_ray_suite_keeps_a_valid_incomplete_file(tmp_path, signum):
    code, _, stderr, out = _interrupt(tmp_path, WITH_RAY, signum)
    _check(signum, code, stderr, out)
