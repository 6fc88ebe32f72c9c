import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args, cwd=None, timeout=300, env=None):
    """Run `python -m bench ...` as a user would, returning the CompletedProcess."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)],
        cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, env=full_env,
    )


@pytest.fixture
def cli():
    return run_cli


# ---- switches that turn a check into a rewrite (issue 25) -------------------------------
# UPDATE_GOLDEN=1 makes the golden checks (tests/test_report_golden.py) rewrite their files and
# pass. A developer sets it on purpose; CI (.ci/run, which sets REQUIRE_DOCKER=1) and any run
# with CI set refuse it before a test runs. .ci/run holds the same list.
REWRITE_SWITCHES = ("UPDATE_GOLDEN",)


def pytest_configure(config):
    under_ci = os.environ.get("CI") not in (None, "", "0", "false") or os.environ.get("REQUIRE_DOCKER") == "1"
    found = [name for name in REWRITE_SWITCHES if os.environ.get(name)]
    if under_ci and found:
        raise pytest.UsageError(f"{', '.join(found)} is set under CI (CI or REQUIRE_DOCKER=1): it turns checks "
                                f"into rewrites; unset it")


# ---- per-test time limits (pytest-timeout; the default is in pyproject.toml) -------------
# Docker tests' module fixtures build the image and a cluster and run a suite inside the
# first test's setup (their own image-build step allows 2400 s; a cold offline build took
# ~5 min here); slow tests run whole suites through the CLI.
MARKER_TIMEOUTS_S = {"docker": 2400, "slow": 900}


def pytest_collection_modifyitems(config, items):
    # `make mutation` (mutmut runs pytest in its own process): the `ray` tests only for
    # `make mutation-ray` (MUTATION_RAY=1), which mutates what only they reach.
    if "mutmut" in sys.modules and os.environ.get("MUTATION_RAY") != "1":
        dropped = [item for item in items if item.get_closest_marker("ray") is not None]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item in items if item.get_closest_marker("ray") is None]
    # MUTATION_TESTS="tests/a.py tests/b.py" (under mutmut only): a module's mutants against its
    # focused tests alone, when the suite-level tests that also reach it cost minutes a mutant.
    # More tests can only catch more mutants, so the score it prints is a lower bound.
    focus = os.environ.get("MUTATION_TESTS", "").split() if "mutmut" in sys.modules else []
    if focus:
        dropped = [item for item in items if item.nodeid.split("::", 1)[0] not in focus]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item in items if item.nodeid.split("::", 1)[0] in focus]
    for item in items:
        if item.get_closest_marker("timeout") is not None:
            continue
        limits = [s for marker, s in MARKER_TIMEOUTS_S.items() if item.get_closest_marker(marker) is not None]
        if limits:
            item.add_marker(pytest.mark.timeout(max(limits)))


# ---- REQUIRE_DOCKER (Docker appliance, issue 3) -------------------------------------
# CI sets REQUIRE_DOCKER=1: there a skipped `docker` test is a failure, so a missing
# engine or compose cannot turn the end-to-end test into a silent green run.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("REQUIRE_DOCKER") == "1"
        and item.get_closest_marker("docker") is not None
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"REQUIRE_DOCKER=1 but this docker test was skipped: {reason}"


@pytest.fixture(autouse=True)
def _no_quiet_host_wait_under_mutmut(monkeypatch):
    """Under mutmut only (`make mutation`): a suite does not wait for a quiet host (up to 10 s
    before the rounds, 2 s before each trial). mutmut's own workers keep the host busy, so every
    suite would wait out the maximum, for every mutant its tests reach; the wait decides no
    figure. tests/test_samplers.py tests bench.engine.samplers.settle itself, unaffected."""
    if "mutmut" not in sys.modules:
        return
    from bench.engine import runner
    from bench.results import SETTLE_BUSY_CORES

    monkeypatch.setattr(runner, "settle", lambda *_a, **_k: {"waited_s": 0.0, "busy_cores": None,
                                                             "quiet_cores": SETTLE_BUSY_CORES, "settled": False})


@pytest.fixture(scope="module")
def embedded_ray():
    """An embedded Ray (2 CPUs) for one test module, shut down after it."""
    from bench.engine.cluster import connect, shutdown

    connect(None, num_cpus=2)
    yield
    shutdown()


@pytest.fixture
def clocked_ray(monkeypatch):
    """Ray replaced by tests/fake_ray.py for one test: (clock, ray module). No Ray starts."""
    import fake_ray as fake

    clock, ray = fake.install(monkeypatch)
    yield clock, ray
    fake.clear_caches()
