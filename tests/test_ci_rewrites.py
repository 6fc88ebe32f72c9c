"""CI refuses the switches that turn a check into a rewrite (issue 25): with UPDATE_GOLDEN=1 all
the golden checks would regenerate their files and pass. .ci/run stops before anything runs,
and pytest itself refuses under CI or REQUIRE_DOCKER=1; a developer's run keeps the switch."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, REWRITE_SWITCHES

CI_RUN = REPO / ".ci" / "run"


def _env(**extra: str) -> dict[str, str]:
    drop = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "CI", "REQUIRE_DOCKER", *REWRITE_SWITCHES}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def _fake_make(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A `make` first on PATH that only logs its arguments: .ci/run's real work never starts."""
    bin_dir, log = tmp_path / "bin", tmp_path / "make.log"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(f'#!/bin/sh\necho "make $* REQUIRE_DOCKER=$REQUIRE_DOCKER" >> {log}\n')
    (bin_dir / "make").chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def test_the_switches_are_the_ones_the_tests_read():
    """Every environment switch a test reads to rewrite what it checks is in REWRITE_SWITCHES,
    and .ci/run refuses the same list."""
    read = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"""environ\.get\(\s*["']([A-Z_]+)["']""", text):
            if re.search(rf"{name}.*\n(?:.*\n){{0,3}}.*write_(?:text|bytes)", text):
                read.add(name)
    assert read == set(REWRITE_SWITCHES) == {"UPDATE_GOLDEN"}
    ci_list = re.search(r"^for switch in ([A-Z_ ]+); do$", CI_RUN.read_text(), re.M)
    assert ci_list and set(ci_list.group(1).split()) == set(REWRITE_SWITCHES)


@pytest.mark.parametrize("value", ["1", "0", "yes"])
def test_ci_run_refuses_update_golden_before_anything_runs(tmp_path, value):
    path, log = _fake_make(tmp_path)
    done = subprocess.run(["bash", str(CI_RUN)], env=_env(UPDATE_GOLDEN=value, **path), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ci: refusing to run with UPDATE_GOLDEN set")
    assert not log.exists()  # make test never started


def test_ci_run_without_the_switch_runs_the_tests(tmp_path):
    path, log = _fake_make(tmp_path)
    done = subprocess.run(["bash", str(CI_RUN)], env=_env(**path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert log.read_text() == "make test REQUIRE_DOCKER=1\n"


@pytest.mark.parametrize("ci", [{"CI": "true"}, {"CI": "1"}, {"REQUIRE_DOCKER": "1"}])
def test_pytest_refuses_update_golden_under_ci(ci):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                           "tests/test_report_golden.py"], cwd=REPO, env=_env(UPDATE_GOLDEN="1", **ci),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "UPDATE_GOLDEN is set under CI" in done.stderr


def test_a_developer_run_may_still_regenerate():
    """Outside CI the switch keeps working (collect only here: nothing is rewritten)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                           "tests/test_report_golden.py"], cwd=REPO, env=_env(UPDATE_GOLDEN="1"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
